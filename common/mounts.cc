#include "common/mounts.h"

#include <sys/mount.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace berth {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && std::isdigit(static_cast<unsigned char>(field[i + 1])) &&
        std::isdigit(static_cast<unsigned char>(field[i + 2])) && std::isdigit(static_cast<unsigned char>(field[i + 3]))) {
      out.push_back(static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

std::string withoutTrailingSlash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

std::vector<std::string> mountsUnder(const std::string& mountinfo, const std::string& dir) {
  const std::string root = withoutTrailingSlash(dir);
  std::vector<std::string> found;
  std::istringstream lines(mountinfo);
  for (std::string line; std::getline(lines, line);) {
    // "<id> <parent> <major:minor> <root> <mount point> ..."
    std::istringstream fields(line);
    std::string id, parent, dev, fsroot, point;
    if (!(fields >> id >> parent >> dev >> fsroot >> point)) continue;
    point = unescape(point);
    if (point == root || (point.size() > root.size() && point.compare(0, root.size(), root) == 0 &&
                          point[root.size()] == '/')) {
      found.push_back(point);
    }
  }
  std::sort(found.begin(), found.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() != b.size() ? a.size() > b.size() : a < b;
            });
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return found;
}

Status unmountUnder(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  for (const std::string& point : mountsUnder(text.str(), dir)) {
    if (::umount2(point.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      return Status(Code::kInternal, "unmounting " + point + ": " + std::strerror(errno));
    }
  }
  return Status::ok();
}

}  // namespace berth

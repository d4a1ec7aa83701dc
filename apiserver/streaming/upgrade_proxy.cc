#include "apiserver/streaming/upgrade_proxy.h"

#include <poll.h>

#include <cerrno>
#include <thread>

#include "common/log.h"
#include "apiserver/streaming/inbox.h"

namespace berth::streaming {

namespace {

void pump(std::shared_ptr<http::UpgradedConnection> client, std::unique_ptr<TlsConnection> backend,
          std::shared_ptr<Inbox> inbox, std::string leftover) {
  if (!leftover.empty()) client->write(leftover);
  std::string from_client;
  while (!client->closed()) {
    pollfd fds[2] = {{backend->fd(), POLLIN, 0}, {inbox->fd(), POLLIN, 0}};
    int r = backend->hasBuffered() ? 1 : poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (backend->hasBuffered() || (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      auto got = backend->readSome(0);
      if (got.isOk()) {
        if (got->empty()) break;  // the kubelet ended the stream
        if (!client->write(*got)) break;
      } else if (got.status().code() != Code::kTimeout) {
        BLOG(4, "upgrade proxy: backend read failed").kv("err", got.status().message());
        break;
      }
    }
    if (fds[1].revents & POLLIN) {
      bool open = inbox->take(&from_client);
      if (!from_client.empty() && !backend->writeAll(from_client).isOk()) break;
      if (!open) break;  // kubectl went away
    }
  }
  client->close();
}

}  // namespace

void pipeUpgraded(std::shared_ptr<http::UpgradedConnection> client,
                  std::unique_ptr<TlsConnection> backend, std::string backend_leftover) {
  auto inbox = std::make_shared<Inbox>();
  client->setOnData([inbox](std::string_view bytes) { inbox->push(bytes); });
  client->setOnClose([inbox] { inbox->close(); });
  std::thread(pump, std::move(client), std::move(backend), std::move(inbox),
              std::move(backend_leftover))
      .detach();
}

}  // namespace berth::streaming

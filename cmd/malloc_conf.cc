// jemalloc's start-up options for the berth binary (read by jemalloc when it is the allocator;
// MALLOC_CONF in the environment still overrides them; unused under the sanitizer build).
// background_thread purges freed pages on jemalloc's own thread instead of only when an
// allocating thread happens to pass by, so memory freed after a burst (a watch backlog, a big
// list) goes back to the system within about a second instead of staying in RSS;
// muzzy_decay_ms:0 returns it at once instead of keeping a second lazily freed tier.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's.
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}

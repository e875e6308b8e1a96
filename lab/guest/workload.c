/*
 * virt-balancer lab guest workload: the guest's init (after a busybox script mounts /proc).
 *
 * Kernel command line (all optional):
 *   vb.cpu=PERCENT    CPU busy share of one vCPU (0..100)
 *   vb.mem=MIB        memory footprint filled with a checkable pattern
 *   vb.dirty=MIBPS    pages rewritten per second, in MiB/s
 *   vb.crash_after=N  after heartbeat N, crash the kernel (sysrq 'c'), for the lab's crashed state
 *   vb.pmsuspend_after=N  after heartbeat N, suspend the guest to RAM (ACPI S3, "mem" to
 *                     /sys/power/state), for the lab's pmsuspended state; heartbeats go on after a wakeup
 *
 * Every 4 KiB page holds a generation number and words derived from (page index, generation).
 * A separate table keeps the generation each page must have, so a page that went back to an older
 * (self-consistent) version during a migration is caught as well as a zeroed or garbled one.
 * The whole footprint is verified about once a second (spread over 100 ms slices) and a heartbeat
 * line goes to the console:
 *   VB-HEARTBEAT seq=<n> status=OK|CORRUPT pages=<n> dirtied=<n> bad=<n> uptime_ms=<n>
 * Once CORRUPT, always CORRUPT: a test that reads any later heartbeat still sees it.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define PAGE_BYTES 4096u
#define WORDS_PER_PAGE (PAGE_BYTES / sizeof(uint64_t))
#define SLICE_NS 100000000ull /* 100 ms */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t page_seed(uint64_t page, uint64_t generation) {
  uint64_t x = page * 0x9E3779B97F4A7C15ull ^ (generation + 1) * 0xC2B2AE3D27D4EB4Full;
  x ^= x >> 31;
  return x * 0xBF58476D1CE4E5B9ull;
}

static void write_page(uint64_t *page, uint64_t index, uint64_t generation) {
  uint64_t seed = page_seed(index, generation);
  page[0] = generation;
  for (unsigned i = 1; i < WORDS_PER_PAGE; i++) page[i] = seed + i;
}

static int page_ok(const uint64_t *page, uint64_t index, uint64_t expected_generation) {
  if (page[0] != expected_generation) return 0;
  uint64_t seed = page_seed(index, expected_generation);
  for (unsigned i = 1; i < WORDS_PER_PAGE; i++)
    if (page[i] != seed + i) return 0;
  return 1;
}

static long cmdline_value(const char *cmdline, const char *key, long fallback) {
  const char *p = strstr(cmdline, key);
  if (!p) return fallback;
  return strtol(p + strlen(key), NULL, 10);
}

/* Write a string to a kernel control file (/proc/sysrq-trigger, /sys/power/state); say on the console when it fails. */
static void write_control(const char *path, const char *value) {
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, value, strlen(value)) < 0) printf("VB-CONTROL %s failed\n", path);
  else printf("VB-CONTROL %s done\n", path);
  if (fd >= 0) close(fd);
  fflush(stdout);
}

static void sleep_until(uint64_t deadline_ns) {
  uint64_t t = now_ns();
  if (deadline_ns <= t) return;
  struct timespec ts = {(time_t)((deadline_ns - t) / 1000000000ull), (long)((deadline_ns - t) % 1000000000ull)};
  nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
  char cmdline[4096] = {0};
  FILE *f = fopen("/proc/cmdline", "r");
  if (f) {
    if (!fgets(cmdline, sizeof cmdline, f)) cmdline[0] = 0;
    fclose(f);
  }
  /* argv overrides, for running the workload on the build host as a self-test. */
  for (int i = 1; i < argc; i++) {
    strncat(cmdline, " ", sizeof cmdline - strlen(cmdline) - 1);
    strncat(cmdline, argv[i], sizeof cmdline - strlen(cmdline) - 1);
  }
  long cpu_percent = cmdline_value(cmdline, "vb.cpu=", 0);
  long mem_mib = cmdline_value(cmdline, "vb.mem=", 32);
  long dirty_mibps = cmdline_value(cmdline, "vb.dirty=", 0);
  long max_heartbeats = cmdline_value(cmdline, "vb.beats=", -1); /* self-test only */
  long corrupt_after = cmdline_value(cmdline, "vb.selftest_corrupt_after=", -1);
  long crash_after = cmdline_value(cmdline, "vb.crash_after=", -1);
  long pmsuspend_after = cmdline_value(cmdline, "vb.pmsuspend_after=", -1);
  if (cpu_percent < 0) cpu_percent = 0;
  if (cpu_percent > 100) cpu_percent = 100;
  if (mem_mib < 1) mem_mib = 1;

  uint64_t pages = (uint64_t)mem_mib * 1024 * 1024 / PAGE_BYTES;
  uint64_t *memory = malloc(pages * PAGE_BYTES);
  uint32_t *generations = calloc(pages, sizeof(uint32_t));
  if (!memory || !generations) {
    printf("VB-HEARTBEAT seq=0 status=CORRUPT reason=cannot-allocate-%ldMiB\n", mem_mib);
    fflush(stdout);
    for (;;) pause();
  }
  for (uint64_t p = 0; p < pages; p++) write_page(memory + p * WORDS_PER_PAGE, p, 0);
  printf("VB-WORKLOAD start cpu=%ld mem=%ld dirty=%ld pages=%llu\n", cpu_percent, mem_mib, dirty_mibps,
         (unsigned long long)pages);
  fflush(stdout);

  /* Pages to rewrite per 100 ms slice, carried as a fraction so low rates still dirty pages. */
  double dirty_pages_per_slice = (double)dirty_mibps * 1024.0 * 1024.0 / PAGE_BYTES / 10.0;
  double dirty_carry = 0;
  uint64_t verify_pages_per_slice = pages / 10 + 1;
  uint64_t dirty_cursor = 0, verify_cursor = 0, dirtied_total = 0, bad_total = 0, seq = 0;
  uint64_t start_ns = now_ns(), slice_start = start_ns;
  uint64_t rng = 0x243F6A8885A308D3ull;
  int corrupt = 0;

  for (;;) {
    uint64_t busy_until = slice_start + SLICE_NS * (uint64_t)cpu_percent / 100;

    dirty_carry += dirty_pages_per_slice;
    uint64_t to_dirty = (uint64_t)dirty_carry;
    dirty_carry -= (double)to_dirty;
    for (uint64_t n = 0; n < to_dirty; n++) {
      /* Stride through memory pseudo-randomly so the dirty set is spread like a real guest's. */
      rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
      uint64_t p = (dirty_cursor + rng) % pages;
      dirty_cursor++;
      generations[p]++;
      write_page(memory + p * WORDS_PER_PAGE, p, generations[p]);
      dirtied_total++;
    }

    for (uint64_t n = 0; n < verify_pages_per_slice && verify_cursor < pages; n++, verify_cursor++) {
      if (!page_ok(memory + verify_cursor * WORDS_PER_PAGE, verify_cursor, generations[verify_cursor])) {
        corrupt = 1;
        bad_total++;
      }
    }
    if (verify_cursor >= pages) {
      verify_cursor = 0;
      seq++;
      printf("VB-HEARTBEAT seq=%llu status=%s pages=%llu dirtied=%llu bad=%llu uptime_ms=%llu\n",
             (unsigned long long)seq, corrupt ? "CORRUPT" : "OK", (unsigned long long)pages,
             (unsigned long long)dirtied_total, (unsigned long long)bad_total,
             (unsigned long long)((now_ns() - start_ns) / 1000000ull));
      fflush(stdout);
      if (max_heartbeats > 0 && (long)seq >= max_heartbeats) return corrupt ? 1 : 0;
      if (corrupt_after >= 0 && (long)seq == corrupt_after) memory[WORDS_PER_PAGE * (pages / 2) + 3] ^= 1;
      if (crash_after >= 0 && (long)seq == crash_after) write_control("/proc/sysrq-trigger", "c");
      /* Returns after the wakeup; the slice clock below then skips the time spent asleep. */
      if (pmsuspend_after >= 0 && (long)seq == pmsuspend_after) write_control("/sys/power/state", "mem");
    }

    while (now_ns() < busy_until) { /* spin: the CPU share the profile asked for */ }
    slice_start += SLICE_NS;
    uint64_t t = now_ns();
    if (slice_start + SLICE_NS < t) slice_start = t; /* fell behind (e.g. paused): don't burst */
    sleep_until(slice_start);
  }
}

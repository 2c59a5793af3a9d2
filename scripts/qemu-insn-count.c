/* Counts the guest instructions a qemu-user process executes, for the instruction-count scripts. A TCG plugin
 * (qemu -plugin FILE.so,out=PATH[,period_ms=N]): at translation each block registers a callback that adds its
 * instruction count to its vCPU's counter (qemu-user runs each guest thread on a vCPU of its own, so counters are
 * never shared and no count is lost to a race); a thread of the plugin writes the running total to PATH every
 * period (default 100 ms) and at exit, so a long-running daemon can be sampled over a window.
 *
 * Written against qemu's stable plugin C API, version 1 (qemu 7.2); only the declarations it uses are repeated
 * here, because Debian ships no qemu-plugin.h. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct {
    const char *target_name;
    struct { int min; int cur; } version;
    bool system_emulation;
    union { struct { int smp_vcpus; int max_vcpus; } system; };
} qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(
    struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb, enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_VCPUS 4096
/* One counter per vCPU, each on its own cache line; written only by its vCPU's thread. */
static struct { _Atomic uint64_t count; char pad[56]; } counters[MAX_VCPUS];
static _Atomic uint64_t overflow; /* vCPUs past MAX_VCPUS (never seen in practice) */
static char *out_path;
static long period_ms = 100;

static uint64_t total(void) {
    uint64_t sum = atomic_load_explicit(&overflow, memory_order_relaxed);
    for (int i = 0; i < MAX_VCPUS; i++) sum += atomic_load_explicit(&counters[i].count, memory_order_relaxed);
    return sum;
}

static void write_total(void) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    FILE *file = fopen(tmp, "w");
    if (!file) return;
    fprintf(file, "%" PRIu64 "\n", total());
    fclose(file);
    rename(tmp, out_path); /* a reader sees a whole number, never a half-written one */
}

static void *writer(void *unused) {
    (void)unused;
    struct timespec pause = { period_ms / 1000, (period_ms % 1000) * 1000000L };
    for (;;) {
        nanosleep(&pause, NULL);
        write_total();
    }
    return NULL;
}

static void executed(unsigned int vcpu, void *instructions) {
    uint64_t n = (uint64_t)(uintptr_t)instructions;
    if (vcpu < MAX_VCPUS) {
        uint64_t now = atomic_load_explicit(&counters[vcpu].count, memory_order_relaxed);
        atomic_store_explicit(&counters[vcpu].count, now + n, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&overflow, n, memory_order_relaxed);
    }
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_cb(
        tb, executed, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)qemu_plugin_tb_n_insns(tb));
}

static void at_exit(qemu_plugin_id_t id, void *unused) {
    (void)id;
    (void)unused;
    write_total();
}

__attribute__((visibility("default"))) int qemu_plugin_install(
    qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) out_path = strdup(argv[i] + 4);
        else if (strncmp(argv[i], "period_ms=", 10) == 0) period_ms = strtol(argv[i] + 10, NULL, 10);
        else { fprintf(stderr, "qemu-insn-count: unknown argument %s\n", argv[i]); return -1; }
    }
    if (!out_path || period_ms <= 0) { fprintf(stderr, "qemu-insn-count: needs out=PATH\n"); return -1; }
    qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    pthread_t thread;
    if (pthread_create(&thread, NULL, writer, NULL) != 0) return -1;
    pthread_detach(thread);
    return 0;
}

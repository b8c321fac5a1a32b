//go:build cudaemu

// The emulator's runtime: kernels registered by name, launched block after block, each block's
// threads run as fibers switched at barriers, one warp's whole interval between two __syncthreads
// after another, first to last (or, with QLORA_EMU_SCHEDULE=reverse, last to first); a
// column-major cublasGemmEx; and a record of the live allocations, against which every load and
// store through ld/st is checked.
//
// Fibers switch stacks with a few instructions on x86-64 (emu_switch below: the callee-saved
// registers and the stack pointer), with ucontext elsewhere; ucontext's switch makes two system
// calls, which made the shuffles of attention kernels the emulator's whole cost.
#include <ucontext.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "api.h"
#include "emu.h"

emu_dim3 emu_block_idx, emu_block_dim, emu_grid_dim;

namespace {

enum State { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };

struct Fiber {
    ucontext_t ctx; // where there is no fast switch
    void* sp;       // the saved stack pointer, with it
    emu_dim3 tid;
    State state;
    unsigned shuffles; // shuffles done: picks the exchange buffer
};

const size_t stackBytes = 256 << 10;

struct Launch {
    const emu_kernel_info* kernel = nullptr;
    const uint64_t* args = nullptr;
    std::vector<Fiber> fibers;
    std::vector<char*> stacks;
    ucontext_t sched;
    void* schedSP;
    int current = -1, threads = 0, done = 0, blockArrived = 0;
    bool reversed = false; // threads run last to first between barriers (QLORA_EMU_SCHEDULE)
    std::vector<int> warpArrived;
    std::vector<uint64_t> slots;
    std::string error;
};

Launch* running;

std::map<std::string, emu_kernel_info>& registry() {
    static std::map<std::string, emu_kernel_info> r;
    return r;
}

// Live allocations: start address → bytes. Go releases them from cleanup goroutines, so the map
// has a lock.
std::map<uintptr_t, size_t>& allocations() {
    static std::map<uintptr_t, size_t> a;
    return a;
}
std::mutex allocationsLock;

void yield();

void fail(const std::string& msg) {
    if (running->error.empty()) running->error = msg;
    yield(); // never resumed
    abort();
}

int warpSize(int w) {
    int n = running->threads - w * 32;
    return n < 32 ? n : 32;
}

void fiberMain() {
    Launch* l = running;
    l->kernel->call(l->args);
    l->fibers[l->current].state = DONE;
    l->done++;
    if (l->blockArrived > 0) fail("a thread exited while others wait at __syncthreads");
    if (l->warpArrived[l->current / 32] > 0) fail("a lane exited while others of its warp wait at a shuffle");
    yield(); // a finished fiber is never resumed
    abort();
}

#if defined(__x86_64__)
#define FAST_SWITCH 1
// emu_switch saves the callee-saved registers on the current stack, stores the stack pointer in
// *from, and resumes the stack at to: the System V x86-64 calling convention needs nothing more.
extern "C" void emu_switch(void** from, void* to);
asm(R"(
    .text
    .globl emu_switch
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
)");

// startStack lays out a new fiber's stack so that switching to it enters fiberMain.
void* startStack(char* stack) {
    uintptr_t top = ((uintptr_t)stack + stackBytes) & ~(uintptr_t)15;
    void** sp = (void**)top;
    *--sp = nullptr;            // fiberMain's return address: it never returns
    *--sp = (void*)&fiberMain;  // where emu_switch's ret goes
    for (int i = 0; i < 6; i++) // rbp, rbx, r12–r15
        *--sp = nullptr;
    return sp;
}
#endif

void yield() {
    Fiber& f = running->fibers[running->current];
#ifdef FAST_SWITCH
    emu_switch(&f.sp, running->schedSP);
#else
    swapcontext(&f.ctx, &running->sched);
#endif
}

void resume(Launch* l, int t) {
    l->current = t;
#ifdef FAST_SWITCH
    emu_switch(&l->schedSP, l->fibers[t].sp);
#else
    swapcontext(&l->sched, &l->fibers[t].ctx);
#endif
}

// runWarp runs warp w's lanes, first to last (or last to first), from shuffle to shuffle until
// none can go on: at __syncthreads, or done. So each warp runs its whole interval between two
// __syncthreads before the next warp starts, which is the order that exposes a missing barrier
// between warps; it returns whether any lane ran.
bool runWarp(Launch* l, int w) {
    int n = warpSize(w);
    bool ran = false, progress = true;
    while (progress && l->error.empty()) {
        progress = false;
        for (int i = 0; i < n && l->error.empty(); i++) {
            int t = w * 32 + (l->reversed ? n - 1 - i : i);
            if (l->fibers[t].state != RUNNABLE) continue;
            resume(l, t);
            progress = ran = true;
        }
    }
    return ran;
}

void runBlock(Launch* l) {
    l->done = 0;
    l->blockArrived = 0;
    for (auto& w : l->warpArrived) w = 0;
    for (int t = 0; t < l->threads; t++) {
        Fiber& f = l->fibers[t];
        f.tid = {(unsigned)(t % emu_block_dim.x), (unsigned)(t / emu_block_dim.x % emu_block_dim.y),
                 (unsigned)(t / (emu_block_dim.x * emu_block_dim.y))};
        f.state = RUNNABLE;
        f.shuffles = 0;
#ifdef FAST_SWITCH
        f.sp = startStack(l->stacks[t]);
#else
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = l->stacks[t];
        f.ctx.uc_stack.ss_size = stackBytes;
        f.ctx.uc_link = &l->sched;
        makecontext(&f.ctx, fiberMain, 0);
#endif
    }
    int warps = (l->threads + 31) / 32;
    while (l->done < l->threads && l->error.empty()) {
        bool ran = false;
        for (int i = 0; i < warps && l->error.empty(); i++)
            ran |= runWarp(l, l->reversed ? warps - 1 - i : i);
        if (!ran && l->error.empty()) l->error = "deadlock: threads wait at a barrier the others never reach";
    }
}

} // namespace

const emu_dim3& emu_thread_idx() { return running->fibers[running->current].tid; }

int emu_lane() { return running->current % 32; }

// emu_warp_slots is the current warp's exchange buffer for its next shuffle: two buffers used in
// turn, so that one barrier per shuffle suffices (a lane cannot write a buffer again before every
// lane has passed the barrier after reading it).
uint64_t* emu_warp_slots() {
    Fiber& f = running->fibers[running->current];
    return &running->slots[((running->current / 32) * 2 + (f.shuffles++ & 1)) * 32];
}

void emu_syncthreads() {
    Launch* l = running;
    if (l->done > 0) fail("__syncthreads after a thread of the block exited");
    l->fibers[l->current].state = WAIT_BLOCK;
    if (++l->blockArrived == l->threads) {
        for (auto& f : l->fibers)
            if (f.state == WAIT_BLOCK) f.state = RUNNABLE;
        l->blockArrived = 0;
    }
    yield();
}

void emu_warp_barrier() {
    Launch* l = running;
    int w = l->current / 32, n = warpSize(w);
    if (l->threads % 32 != 0) fail("a shuffle in a block that is not whole warps");
    for (int t = w * 32; t < w * 32 + n; t++)
        if (l->fibers[t].state == DONE) fail("a shuffle after a lane of the warp exited");
    l->fibers[l->current].state = WAIT_WARP;
    if (++l->warpArrived[w] == n) {
        for (int t = w * 32; t < w * 32 + n; t++)
            if (l->fibers[t].state == WAIT_WARP) l->fibers[t].state = RUNNABLE;
        l->warpArrived[w] = 0;
    }
    yield();
}

void emu_register(const char* name, emu_kernel_info info) { registry()[name] = info; }

void emu_check_access(const void* p, long long i, size_t size) {
    uintptr_t a = (uintptr_t)p + (uintptr_t)(i * (long long)size);
    {
        std::lock_guard<std::mutex> lock(allocationsLock);
        auto& m = allocations();
        auto it = m.upper_bound(a);
        if (i >= 0 && it != m.begin()) {
            --it;
            if (a >= it->first && a + size <= it->first + it->second) return;
        }
    }
    char buf[160];
    snprintf(buf, sizeof buf, "out-of-bounds access: element %lld of %zu bytes at %p is in no allocation", i, size, p);
    fail(buf);
}

// QLORA_KERNELS_SHA names the kernel sources compiled in (scripts/cuda-emu-test.sh).
#define EMU_STRING(x) #x
#define EMU_EXPAND(x) EMU_STRING(x)

extern "C" {

const char* emu_kernels_sha(void) {
#ifdef QLORA_KERNELS_SHA
    return EMU_EXPAND(QLORA_KERNELS_SHA);
#else
    return "";
#endif
}

int emu_kernel_params(const char* name) {
    auto it = registry().find(name);
    return it == registry().end() ? -1 : it->second.params;
}

int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               unsigned smem, const uint64_t* args, int nargs, char* err, int errlen) {
    auto report = [&](const std::string& msg) {
        snprintf(err, errlen, "%s: %s", name, msg.c_str());
        return 1;
    };
    auto it = registry().find(name);
    if (it == registry().end()) return report("no such kernel");
    if (nargs != it->second.params) return report("wrong number of parameters");
    unsigned threads = bx * by * bz;
    if (threads == 0 || threads > 1024 || bz > 64) return report("invalid block dimensions");
    if (gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 || gx > 0x7fffffffu) return report("invalid grid dimensions");
    if (smem > 48 * 1024) return report("dynamic shared memory over 48 KiB needs the function attribute raised");
    const char* schedule = getenv("QLORA_EMU_SCHEDULE");
    bool reversed = schedule && strcmp(schedule, "reverse") == 0;
    if (schedule && *schedule && !reversed && strcmp(schedule, "forward") != 0)
        return report(std::string("QLORA_EMU_SCHEDULE=") + schedule + ": want forward or reverse");
    Launch l;
    l.reversed = reversed;
    l.kernel = &it->second;
    l.args = args;
    l.threads = threads;
    l.fibers.resize(threads);
    l.warpArrived.resize((threads + 31) / 32);
    l.slots.resize(((threads + 31) / 32) * 64);
    for (unsigned t = 0; t < threads; t++) l.stacks.push_back((char*)malloc(stackBytes));
    running = &l;
    emu_grid_dim = {gx, gy, gz};
    emu_block_dim = {bx, by, bz};
    for (unsigned z = 0; z < gz && l.error.empty(); z++)
        for (unsigned y = 0; y < gy && l.error.empty(); y++)
            for (unsigned x = 0; x < gx && l.error.empty(); x++) {
                emu_block_idx = {x, y, z};
                runBlock(&l);
            }
    for (char* s : l.stacks) free(s);
    running = nullptr;
    if (!l.error.empty()) {
        char where[96];
        snprintf(where, sizeof where, " (block %u,%u,%u)", emu_block_idx.x, emu_block_idx.y, emu_block_idx.z);
        return report(l.error + where);
    }
    return 0;
}

uintptr_t emu_malloc(size_t n) { return (uintptr_t)calloc(n ? n : 1, 1); }
void emu_free(uintptr_t p) { free((void*)p); }
void emu_copy_in(uintptr_t dst, const void* src, size_t n) { memcpy((void*)dst, src, n); }
void emu_copy_out(void* dst, uintptr_t src, size_t n) { memcpy(dst, (const void*)src, n); }
void emu_copy(uintptr_t dst, uintptr_t src, size_t n) { memmove((void*)dst, (const void*)src, n); }
void emu_zero(uintptr_t dst, size_t n) { memset((void*)dst, 0, n); }

void emu_track(uintptr_t p, size_t bytes) {
    std::lock_guard<std::mutex> lock(allocationsLock);
    allocations()[p] = bytes;
}

void emu_untrack(uintptr_t p) {
    std::lock_guard<std::mutex> lock(allocationsLock);
    allocations().erase(p);
}

// emu_gemm_ex is cublasGemmEx with CUBLAS_COMPUTE_32F: column-major C (m,n) = alpha·op(A)·op(B) +
// beta·C, summed in float in order of k; C is not read when beta is 0. Types: 0 float, 14 bf16.
int emu_gemm_ex(int transa, int transb, int m, int n, int k, float alpha, uintptr_t A, int atype, int lda,
                uintptr_t B, int btype, int ldb, float beta, uintptr_t C, int ctype, int ldc) {
    auto load = [](uintptr_t p, int type, long long i) -> float {
        if (type == 14) {
            __nv_bfloat16 h;
            memcpy(&h, (const char*)p + 2 * i, 2);
            return __bfloat162float(h);
        }
        float f;
        memcpy(&f, (const char*)p + 4 * i, 4);
        return f;
    };
    if (m < 0 || n < 0 || k < 0) return 7; // CUBLAS_STATUS_INVALID_VALUE
    int rowsA = transa ? k : m, rowsB = transb ? n : k;
    if (lda < (rowsA > 1 ? rowsA : 1) || ldb < (rowsB > 1 ? rowsB : 1) || ldc < (m > 1 ? m : 1)) return 7;
    for (int types[] = {atype, btype, ctype}, t = 0; t < 3; t++)
        if (types[t] != 0 && types[t] != 14) return 7;
    if ((atype == 0) != (btype == 0) || (atype == 0 && ctype != 0)) return 15; // CUBLAS_STATUS_NOT_SUPPORTED
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            float s = 0;
            for (int p = 0; p < k; p++) {
                float a = load(A, atype, transa ? p + (long long)i * lda : i + (long long)p * lda);
                float b = load(B, btype, transb ? j + (long long)p * ldb : p + (long long)j * ldb);
                s += a * b;
            }
            long long at = i + (long long)j * ldc;
            float c = alpha * s;
            if (beta != 0) c += beta * load(C, ctype, at);
            if (ctype == 14) {
                __nv_bfloat16 h = __float2bfloat16_rn(c);
                memcpy((char*)C + 2 * at, &h, 2);
            } else {
                memcpy((char*)C + 4 * at, &c, 4);
            }
        }
    }
    return 0;
}

} // extern "C"

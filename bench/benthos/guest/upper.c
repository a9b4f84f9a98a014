/* The Benthos comparison's transform for Redpanda Connect's `wasm`
 * processor: ASCII upper case of each message. That processor calls the
 * exported `process` once per message; the guest asks for the message with
 * the import v0_msg_as_bytes (the host calls our `malloc` and copies the
 * bytes in), transforms it in place and hands it back with v0_msg_set_bytes
 * (the host copies it out); the host then calls `free`.
 *
 * No libc: one message is live at a time, so malloc hands out one growing
 * static region. Build:
 *   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export=process \
 *     -Wl,--export=malloc -Wl,--export=free -o upper.wasm upper.c */
#include <stdint.h>

__attribute__((import_module("benthos_wasm"), import_name("v0_msg_as_bytes")))
extern uint64_t msg_as_bytes(void);
__attribute__((import_module("benthos_wasm"), import_name("v0_msg_set_bytes")))
extern void msg_set_bytes(uint32_t ptr, uint32_t len);

extern unsigned char __heap_base;
static uint32_t cap; /* bytes of the region at __heap_base */

void *malloc(__SIZE_TYPE__ n) {
    uint32_t base = (uint32_t)(uintptr_t)&__heap_base;
    if (n > cap) {
        uint32_t have = (uint32_t)__builtin_wasm_memory_size(0) * 65536u;
        if (base + n > have) {
            uint32_t pages = (base + n - have + 65535u) / 65536u;
            if (__builtin_wasm_memory_grow(0, pages) == (__SIZE_TYPE__)-1) return 0;
        }
        cap = (uint32_t)n;
    }
    return &__heap_base;
}

void free(void *p) { (void)p; }

void process(void) {
    uint64_t ps = msg_as_bytes();
    unsigned char *p = (unsigned char *)(uintptr_t)(uint32_t)(ps >> 32);
    uint32_t n = (uint32_t)ps;
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] >= 'a' && p[i] <= 'z') p[i] -= 'a' - 'A';
    }
    msg_set_bytes((uint32_t)(uintptr_t)p, n);
}

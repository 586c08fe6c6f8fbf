/* Output helpers for conformance programs (no libc). */
#pragma once
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef long long i64;
int sys_write(int fd, const void *buf, u32 len);
void sys_exit(int code) __attribute__((noreturn));
u32 sys_brk(u32 addr);
void put_str(const char *s);
void put_hex(u32 v);
void put_dec(i32 v);
void put_udec(u32 v);
void put_char(char c);
void put_line(const char *label, u32 v);
void *memcpy(void *d, const void *s, u32 n);
void *memset(void *d, int c, u32 n);

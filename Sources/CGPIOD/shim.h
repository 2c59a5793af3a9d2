// What the GPIO backend needs from libgpiod's C API, declared here instead of including the system's gpiod.h:
// panicd opens libgpiod at run time with dlopen (PanicLinux/GPIODLibrary.swift) and works with libgpiod 1.6
// (libgpiod.so.2, Debian 12's libgpiod2) and libgpiod 2.x (libgpiod.so.3, Debian 13's libgpiod3) alike, so
// building it needs neither library's headers. Only the opaque types, the one plain struct and the constants
// the backend uses; written from libgpiod's public API documentation (the function prototypes are Swift
// `@convention(c)` types beside the dlsym calls). Every value here is part of the library's stable ABI.
#ifndef PANICBRIDGE_CGPIOD_SHIM_H
#define PANICBRIDGE_CGPIOD_SHIM_H

#include <stdint.h>
#include <time.h>

// MARK: libgpiod 1.6 (API v1; soname libgpiod.so.2)

struct gpiod_chip;
struct gpiod_line;
struct gpiod_chip_iter;

// The flags argument of gpiod_line_request_*_flags (v1.5+: the bias bits).
enum {
    GPIOD_LINE_REQUEST_FLAG_OPEN_DRAIN = 1 << 0,
    GPIOD_LINE_REQUEST_FLAG_OPEN_SOURCE = 1 << 1,
    GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW = 1 << 2,
    GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE = 1 << 3,
    GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN = 1 << 4,
    GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP = 1 << 5,
};

// gpiod_line_event.event_type.
enum {
    GPIOD_LINE_EVENT_RISING_EDGE = 1,
    GPIOD_LINE_EVENT_FALLING_EDGE = 2,
};

// One edge, as gpiod_line_event_read_fd_multiple fills an array of them.
struct gpiod_line_event {
    struct timespec ts;
    int event_type;
};

// MARK: libgpiod 2.x (API v2, 2.0 and later; soname libgpiod.so.3)

struct gpiod_line_settings;
struct gpiod_line_config;
struct gpiod_request_config;
struct gpiod_line_request;
struct gpiod_chip_info;
struct gpiod_edge_event;
struct gpiod_edge_event_buffer;

enum gpiod_line_value {
    GPIOD_LINE_VALUE_ERROR = -1,
    GPIOD_LINE_VALUE_INACTIVE = 0,
    GPIOD_LINE_VALUE_ACTIVE = 1,
};

enum gpiod_line_direction {
    GPIOD_LINE_DIRECTION_AS_IS = 1,
    GPIOD_LINE_DIRECTION_INPUT = 2,
    GPIOD_LINE_DIRECTION_OUTPUT = 3,
};

enum gpiod_line_edge {
    GPIOD_LINE_EDGE_NONE = 1,
    GPIOD_LINE_EDGE_RISING = 2,
    GPIOD_LINE_EDGE_FALLING = 3,
    GPIOD_LINE_EDGE_BOTH = 4,
};

enum gpiod_line_bias {
    GPIOD_LINE_BIAS_AS_IS = 1,
    GPIOD_LINE_BIAS_UNKNOWN = 2,
    GPIOD_LINE_BIAS_DISABLED = 3,
    GPIOD_LINE_BIAS_PULL_UP = 4,
    GPIOD_LINE_BIAS_PULL_DOWN = 5,
};

enum gpiod_line_clock {
    GPIOD_LINE_CLOCK_MONOTONIC = 1,
    GPIOD_LINE_CLOCK_REALTIME = 2,
    GPIOD_LINE_CLOCK_HTE = 3,
};

enum gpiod_edge_event_type {
    GPIOD_EDGE_EVENT_RISING_EDGE = 1,
    GPIOD_EDGE_EVENT_FALLING_EDGE = 2,
};

// MARK: The system headers the backend also needs

// The GPIO backend waits on line event descriptors with epoll and stops its thread with an eventfd; Glibc's
// Swift module does not export these two headers.
#include <sys/epoll.h>
#include <sys/eventfd.h>
// dlopen and dlsym (in libc since glibc 2.34; Glibc's module has them, named here so the dependency shows).
#include <dlfcn.h>

#endif

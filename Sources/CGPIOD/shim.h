#include <gpiod.h>
// The GPIO backend waits on line event descriptors with epoll and stops its thread with an eventfd; Glibc's
// Swift module does not export these two headers.
#include <sys/epoll.h>
#include <sys/eventfd.h>

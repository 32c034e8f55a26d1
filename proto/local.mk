# proto/: wire constants and the pure frame codec (libc only).
noinst_LIBRARIES += proto/libproto.a
proto_libproto_a_SOURCES = proto/wire.h proto/wire.c proto/frame.h proto/frame.c
EXTRA_DIST += proto/PROTOCOL.md proto/CONTROL.md proto/vectors

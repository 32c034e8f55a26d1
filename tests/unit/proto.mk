# tests/unit/proto.mk
# Unit tests of proto/ (the frame codec, driven by proto/vectors) and
# common/framebuf. tests/fuzz/vectors-check.sh proves the committed vectors
# are what tests/fuzz/mkvectors.c writes.
check_PROGRAMS += tests/unit/test_frame tests/fuzz/mkvectors
TESTS += tests/unit/test_frame tests/fuzz/vectors-check.sh
tests_unit_test_frame_SOURCES = tests/unit/test_frame.c \
	tests/unit/vectors.h tests/unit/vectors.c tests/unit/cunit_main.h
tests_unit_test_frame_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_frame_LDADD = proto/libproto.a $(CUNIT_LIBS)
tests_fuzz_mkvectors_SOURCES = tests/fuzz/mkvectors.c

check_PROGRAMS += tests/unit/test_framebuf
TESTS += tests/unit/test_framebuf
tests_unit_test_framebuf_SOURCES = tests/unit/test_framebuf.c \
	tests/unit/vectors.h tests/unit/vectors.c tests/unit/cunit_main.h
tests_unit_test_framebuf_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_framebuf_LDADD = common/libcommon.a proto/libproto.a $(LIBEVENT_LIBS) $(CUNIT_LIBS)

# The frame fuzz target, replayed over the vectors with a plain main().
check_PROGRAMS += tests/fuzz/fuzz_frame_replay
TESTS += tests/fuzz/fuzz_frame_replay
tests_fuzz_fuzz_frame_replay_SOURCES = tests/fuzz/fuzz_frame.c \
	tests/fuzz/replay.c tests/unit/vectors.h tests/unit/vectors.c
tests_fuzz_fuzz_frame_replay_LDADD = proto/libproto.a

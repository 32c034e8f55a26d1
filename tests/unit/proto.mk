# tests/unit/proto.mk
# Unit tests of proto/ (the frame codec) and common/framebuf.
check_PROGRAMS += tests/unit/test_frame
TESTS += tests/unit/test_frame
tests_unit_test_frame_SOURCES = tests/unit/test_frame.c
tests_unit_test_frame_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_frame_LDADD = proto/libproto.a $(CUNIT_LIBS)

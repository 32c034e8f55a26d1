# client

# telepodd's modules, in a library so tests/unit can link them.
noinst_LIBRARIES += client/libtelepodd.a
client_libtelepodd_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS) $(OPENSSL_CFLAGS) $(CJSON_CFLAGS) $(LIBNL_CFLAGS) $(LIBNL_ROUTE_CFLAGS)
client_libtelepodd_a_SOURCES = \
	client/dnswire.h client/dnswire.c \
	client/dnsstub.h client/dnsstub.c \
	client/resolvconf.h client/resolvconf.c \
	client/socks5.h client/socks5.c \
	client/socksd.h client/socksd.c \
	client/conn.h client/conn.c \
	client/daemon.h client/daemon.c \
	client/cidr.h client/cidr.c \
	client/tun.h client/tun-linux.c \
	client/nlerr-linux.h client/nlerr-linux.c \
	client/route.h client/route.c client/route-linux.c \
	client/netstate.h client/netstate.c \
	client/vpn.h client/vpn.c
# What a program linking tun, route or netstate from libtelepodd.a also needs.
CLIENT_NET_LIBS = $(LIBNL_ROUTE_LIBS) $(LIBNL_LIBS) $(CJSON_LIBS) $(LIBBPF_LIBS)

sbin_PROGRAMS += client/telepodd
client_telepodd_SOURCES = client/telepodd.c
client_telepodd_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(CJSON_CFLAGS)
client_telepodd_LDADD = client/libtelepodd.a client/libctl.a $(COMMON_LIBS) $(CLIENT_NET_LIBS)

# The control protocol (client/ctl.*), shared by telepodd and the telepod CLI.
noinst_LIBRARIES += client/libctl.a
client_libctl_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(CJSON_CFLAGS)
client_libctl_a_SOURCES = client/ctl.h client/ctl.c

# The telepod CLI; its daemon-free logic (cliutil) is a library for tests.
noinst_LIBRARIES += client/libcli.a
client_libcli_a_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)
client_libcli_a_SOURCES = client/cliutil.h client/cliutil.c client/cidr.h client/cidr.c

bin_PROGRAMS += client/telepod
client_telepod_SOURCES = client/cli.c
client_telepod_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS) $(OPENSSL_CFLAGS)
# `telepod demo` finds its script (client/telepod-demo.sh) and the programs
# in the build tree it was built in, else where `make install` put them.
client_telepod_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTELEPOD_TOP_SRCDIR='"$(abs_top_srcdir)"' \
	-DTELEPOD_TOP_BUILDDIR='"$(abs_top_builddir)"' \
	-DTELEPOD_PKGLIBEXECDIR='"$(pkglibexecdir)"' \
	-DTELEPOD_SBINDIR='"$(sbindir)"'
pkglibexec_SCRIPTS = client/telepod-demo
CLEANFILES += client/telepod-demo
EXTRA_DIST += client/telepod-demo.sh
client/telepod-demo: $(top_srcdir)/client/telepod-demo.sh
	$(AM_V_GEN)$(MKDIR_P) client && cp $(top_srcdir)/client/telepod-demo.sh $@ && chmod +x $@
client_telepod_LDADD = client/libkconnect.a client/libcli.a client/libctl.a $(KUBEPF_LIBS) $(KUBE_LIBS) $(COMMON_LIBS)

# The TUN packet path (docs/vpn-tcp.md): packet parsing and rewriting.
client_libtelepodd_a_SOURCES += client/pkt.h client/pkt.c \
	client/nat.h client/nat.c \
	client/tunstack.h client/tunstack.c \
	client/fastpath.h client/fastpath-linux.c client/fastpath-map.h

# The kernel fast path's classifier (docs/vpn-tcp.md), compiled for the BPF
# target and built into telepodd as bytes (client/fastpath-obj.h).
nodist_client_libtelepodd_a_SOURCES = client/fastpath-obj.h
BUILT_SOURCES += client/fastpath-obj.h
client/fastpath.bpf.o: $(top_srcdir)/client/fastpath.bpf.c $(top_srcdir)/client/fastpath-map.h
	$(AM_V_GEN)$(MKDIR_P) client && \
	$(BPF_CLANG) -O2 -g -target bpf -Wall -Werror -I$(top_srcdir) $(BPF_CPPFLAGS) \
		-c $(top_srcdir)/client/fastpath.bpf.c -o $@
client/fastpath-obj.h: client/fastpath.bpf.o
	$(AM_V_GEN){ echo '/* Generated from client/fastpath.bpf.c by client/local.mk. */'; \
	echo 'static const unsigned char fastpath_obj[] = {'; \
	od -An -v -tx1 client/fastpath.bpf.o | sed -e 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	echo '};'; } >$@.tmp && mv $@.tmp $@
CLEANFILES += client/fastpath.bpf.o client/fastpath-obj.h
EXTRA_DIST += client/fastpath.bpf.c

# The Kubernetes path of `telepod connect` and `telepod uninstall`
# (client/kconnect, client/kmanifest), a library for the CLI and tests.
# telepod-server's objects, packaging/kubernetes/*.yaml in apply order,
# are compiled in by client/kmanifest-gen.sh.
KMANIFEST_YAML = $(top_srcdir)/packaging/kubernetes/serviceaccount.yaml \
	$(top_srcdir)/packaging/kubernetes/secret.yaml \
	$(top_srcdir)/packaging/kubernetes/deployment.yaml \
	$(top_srcdir)/packaging/kubernetes/service.yaml
noinst_LIBRARIES += client/libkconnect.a
client_libkconnect_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(CJSON_CFLAGS) $(YAML_CFLAGS) $(LIBCURL_CFLAGS)
client_libkconnect_a_SOURCES = client/kconnect.h client/kconnect.c \
	client/kmanifest.h client/kmanifest.c
nodist_client_libkconnect_a_SOURCES = client/kmanifest-data.c
client/kmanifest-data.c: $(KMANIFEST_YAML) $(top_srcdir)/client/kmanifest-gen.sh
	$(AM_V_GEN)$(MKDIR_P) client && \
	$(SHELL) $(top_srcdir)/client/kmanifest-gen.sh $(KMANIFEST_YAML) >$@.tmp && mv $@.tmp $@
CLEANFILES += client/kmanifest-data.c
EXTRA_DIST += client/kmanifest-gen.sh

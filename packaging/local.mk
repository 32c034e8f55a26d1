# packaging

# telepodd service definitions. The systemd unit installs where systemd looks
# for locally installed units ($(prefix)/lib/systemd/system; with the default
# prefix /usr/local that is /usr/local/lib/systemd/system). The launchd plist
# is shipped for macOS and copied by hand (see its header).
systemdunitdir = $(prefix)/lib/systemd/system
dist_systemdunit_DATA = packaging/systemd/telepodd.service
EXTRA_DIST += packaging/launchd/dev.telepod.telepodd.plist

# telepod-server's Kubernetes objects; `telepod connect` compiles in the
# same files (client/local.mk).
kubernetesdir = $(pkgdatadir)/kubernetes
dist_kubernetes_DATA = packaging/kubernetes/serviceaccount.yaml \
	packaging/kubernetes/secret.yaml packaging/kubernetes/deployment.yaml \
	packaging/kubernetes/service.yaml

# Not built here (no container engine); shipped in the tarball.
EXTRA_DIST += packaging/README.md packaging/container/Containerfile

# env-provisioner/: nothing to build yet (see env-provisioner/README.md).
EXTRA_DIST += env-provisioner/README.md

# env-provisioner

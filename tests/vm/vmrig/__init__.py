"""berth's VM test rig: kernel cache, initramfs, QEMU boots and the judgement of markers."""

#!/usr/bin/env bash
# Makes an image layer directory holding busybox (static) and its applet links: a small,
# complete root filesystem for demos and tests. Usage: make-busybox-layer.sh DIR
set -euo pipefail
dir=${1:?usage: make-busybox-layer.sh DIR}
busybox=/bin/busybox
[[ -x $busybox ]] || { echo "make-busybox-layer: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,dev,sys,tmp,var/www,root}
chmod 1777 "$dir/tmp"
cp "$busybox" "$dir/bin/busybox"
for applet in $("$busybox" --list-full); do
    [[ -e $dir/$applet ]] || ln -s /bin/busybox "$dir/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/etc/passwd"
echo 'root:x:0:' > "$dir/etc/group"
echo '<h1>served by berth</h1>' > "$dir/var/www/index.html"

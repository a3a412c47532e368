# storm.sh: berth-pid1-poweroff's double-fork storm (service storm: no namespaces, the guest's
# root). 100 times, a child starts orphan.sh in the background and exits at once, so orphan.sh
# is reparented to PID 1 (berth), which must reap it when it exits. Then it idles.
mkdir -p /run/storm
for _ in $(seq 100); do
    sh -c 'sh /etc/berth-vm/scenario/orphan.sh </dev/null >/dev/null 2>&1 &'
done
echo 100 >/run/storm/forked
exec sleep 3600

# orphan.sh: one orphan of storm.sh. Its parent has exited by the time it wakes; it notes its pid
# and its parent now (which must be 1), then exits, leaving a zombie unless PID 1 reaps it.
sleep 1
while read -r key value; do
    if [ "$key" = PPid: ]; then
        echo "$$ $value" >>/run/storm/orphans
    fi
done </proc/$$/status

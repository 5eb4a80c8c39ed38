"""kafka-python 2.0.2 consumer group member for test/integration/cluster-groups.test.ts.

Usage: /usr/bin/python3 kp_group.py '<json>'  with {bootstrap, topic, group}
Subscribes to the topic in the group (auto commit off) and loops until a line "stop" arrives on stdin: poll, print
each record as one JSON line {"d": [partition, offset, value]}, then commit the positions synchronously and print
{"c": {partition: offset}} once the commit is acknowledged (a failed commit prints {"e": "<error>"} and the loop goes
on). Every line is flushed at once, so the test sees deliveries and acknowledged commits in the order they happened.
"""
import json
import select
import sys

from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata


def out(obj):
    print(json.dumps(obj), flush=True)


def main():
    args = json.loads(sys.argv[1])
    consumer = KafkaConsumer(
        args['topic'],
        bootstrap_servers=args['bootstrap'],
        group_id=args['group'],
        enable_auto_commit=False,
        auto_offset_reset='earliest',
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        max_poll_records=50,
        retry_backoff_ms=100,
        reconnect_backoff_max_ms=500,
        request_timeout_ms=15000,
    )
    out({'ready': True})
    while True:
        if select.select([sys.stdin], [], [], 0)[0] and sys.stdin.readline().strip() == 'stop':
            break
        batches = consumer.poll(timeout_ms=200)
        if not batches:
            continue
        offsets = {}
        for tp, records in batches.items():
            for r in records:
                out({'d': [tp.partition, r.offset, r.value.decode('utf-8')]})
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, '')
        try:
            consumer.commit(offsets)
            out({'c': {str(tp.partition): om.offset for tp, om in offsets.items()}})
        except Exception as e:  # a commit refused in a rebalance or a coordinator move: the records may come again
            out({'e': '%s: %s' % (type(e).__name__, e)})
    consumer.close(autocommit=False)
    out({'closed': True})


if __name__ == '__main__':
    main()

"""A member of the chaos checker's consumer group (scripts/chaos.mjs): confluent-kafka (librdkafka), auto commit off.

Usage: /usr/bin/python3 consumer.py '<json>'  with {bootstrap, topic, group, partitions, out, sample}
Consumes the topic in the group until a line "stop" arrives on stdin, committing (synchronously) after every batch.
Writes to the file `out`, one line each, with the wall-clock time in ms (members on one machine share the clock):
  D <ms> <partition> <offset> <key> <value>    a record handed to the application
  C <ms> <partition> <offset>                  a commit the coordinator acknowledged
  S <ms> <partition> <offset>                  the group's committed offset, read from the coordinator (each second,
                                               with sample: true; one member samples, so the samples are in order)
  E <ms> <error>                               a failed commit or fetch (the loop goes on)
"""
import json
import select
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition


def now():
    return int(time.time() * 1000)


def main():
    args = json.loads(sys.argv[1])
    topic = args['topic']
    out = open(args['out'], 'w', buffering=1 << 16)
    c = Consumer({
        'bootstrap.servers': args['bootstrap'],
        'group.id': args['group'],
        'enable.auto.commit': False,
        'auto.offset.reset': 'earliest',
        'session.timeout.ms': 6000,
        'heartbeat.interval.ms': 500,
        'reconnect.backoff.ms': 100,
        'reconnect.backoff.max.ms': 1000,
    })
    c.subscribe([topic])
    everything = [TopicPartition(topic, p) for p in range(args['partitions'])]
    last_sample = 0
    while True:
        if select.select([sys.stdin], [], [], 0)[0] and sys.stdin.readline().strip() == 'stop':
            break
        msgs = c.consume(num_messages=200, timeout=0.2)
        ends = {}
        for m in msgs:
            if m.error():
                out.write('E %d %s\n' % (now(), str(m.error()).replace('\n', ' ')))
                continue
            out.write('D %d %d %d %s %s\n' % (now(), m.partition(), m.offset(), m.key().decode(), m.value().decode()))
            ends[m.partition()] = m.offset() + 1
        if ends:
            try:
                done = c.commit(offsets=[TopicPartition(topic, p, o) for p, o in ends.items()], asynchronous=False)
                for tp in done or []:
                    if tp.error is None:
                        out.write('C %d %d %d\n' % (now(), tp.partition, tp.offset))
                    else:
                        out.write('E %d commit %d: %s\n' % (now(), tp.partition, tp.error))
            except KafkaException as e:
                out.write('E %d commit: %s\n' % (now(), str(e).replace('\n', ' ')))
        if args.get('sample') and time.monotonic() - last_sample >= 1:
            last_sample = time.monotonic()
            try:
                for tp in c.committed(everything, timeout=5):
                    if tp.error is None and tp.offset >= 0:
                        out.write('S %d %d %d\n' % (now(), tp.partition, tp.offset))
            except KafkaException as e:
                out.write('E %d committed: %s\n' % (now(), str(e).replace('\n', ' ')))
        out.flush()
    c.close()
    out.close()
    print(json.dumps({'closed': True}), flush=True)


if __name__ == '__main__':
    main()

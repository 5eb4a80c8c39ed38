"""The chaos checker's producer (scripts/chaos.mjs): confluent-kafka (librdkafka), idempotent, acks=all.

Usage: /usr/bin/python3 producer.py '<json>'  with {bootstrap, topic, keys, out, rate, debug?}
Produces value "v-<i>" with key "k-<i mod keys>" for i = 0, 1, ... at about `rate` records a second, until a line
"stop" arrives on stdin. Every delivery report goes to the file `out`, one line each:
  A <i> <partition> <offset>     acknowledged (offset -1: acknowledged without an offset, as librdkafka reports a
                                 retried batch the broker already had when it cannot tell where)
  F <i> <error>                  failed (never acknowledged; the record may or may not be in the log)
Then it flushes (waiting for every report) and prints one JSON line: {"produced", "acked", "failed", "unflushed",
"fatal"} ("fatal": a fatal idempotent-producer error, or null).
"""
import json
import select
import sys
import time

from confluent_kafka import KafkaException, Producer


def main():
    args = json.loads(sys.argv[1])
    out = open(args['out'], 'w', buffering=1 << 16)
    counts = {'acked': 0, 'failed': 0}
    fatal = [None]

    def report(err, msg):
        i = int(msg.value()[2:])
        if err is None:
            counts['acked'] += 1
            offset = msg.offset()
            out.write('A %d %d %d\n' % (i, msg.partition(), -1 if offset is None else offset))
        else:
            counts['failed'] += 1
            out.write('F %d %s\n' % (i, str(err).replace('\n', ' ')))

    def on_error(err):
        if err.fatal():
            fatal[0] = str(err)

    conf = {
        'bootstrap.servers': args['bootstrap'],
        'enable.idempotence': True,
        'acks': 'all',
        'linger.ms': 5,
        'message.timeout.ms': 300000,
        'retry.backoff.ms': 100,
        'reconnect.backoff.ms': 100,
        'reconnect.backoff.max.ms': 1000,
        'error_cb': on_error,
    }
    if args.get('debug'):
        conf['debug'] = args['debug']  # librdkafka's own debug contexts (e.g. "eos,msg"), logged to stderr
    p = Producer(conf)
    keys = args['keys']
    per_tick = max(1, args['rate'] // 100)
    produced = 0
    next_tick = time.monotonic()
    last_flush = next_tick
    while fatal[0] is None:
        if select.select([sys.stdin], [], [], 0)[0] and sys.stdin.readline().strip() == 'stop':
            break
        for _ in range(per_tick):
            i = produced
            while True:
                try:
                    p.produce(args['topic'], key=('k-%d' % (i % keys)).encode(), value=('v-%d' % i).encode(), on_delivery=report)
                    break
                except BufferError:
                    p.poll(0.05)
            produced += 1
        p.poll(0)
        if time.monotonic() - last_flush >= 1:
            out.flush()  # the runner watches the file to see the load going
            last_flush = time.monotonic()
        # about `rate` records a second, in ticks of 10 ms (pacing)
        next_tick += 0.01
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_tick = time.monotonic()
    unflushed = p.flush(300)
    out.close()
    print(json.dumps({'produced': produced, 'acked': counts['acked'], 'failed': counts['failed'], 'unflushed': unflushed, 'fatal': fatal[0]}), flush=True)


if __name__ == '__main__':
    try:
        main()
    except KafkaException as e:
        print(json.dumps({'error': str(e)}), flush=True)
        sys.exit(1)

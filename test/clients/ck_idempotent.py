"""confluent-kafka-python (librdkafka) idempotent producer under load, for test/integration/idempotence.test.ts.

Usage: /usr/bin/python3 ck_idempotent.py '<json>'  with {bootstrap, topic, max_count, pause_every?, pause_ms?, keys?}
Produces values "m-<i>" with keys "k-<i>" (or "k-<i mod keys>" with keys given) (i = 0, 1, ...) in order, pausing pause_ms every pause_every messages,
until a line "stop" arrives on stdin (or max_count). Prints "ready" once the producer has its producer id,
"acked <n>" after each 500 acknowledgements, and finally one JSON line:
{"produced": n, "acked": [[i, partition, offset], ...], "errors": [..], "unflushed": n}.
"""
import json
import select
import sys
import time

from confluent_kafka import Producer


def main():
    args = json.loads(sys.argv[1])
    acked = []
    errors = []

    def report(err, msg):
        i = int(msg.value().decode('utf-8')[2:])
        if err is not None:
            errors.append([i, str(err)])
        else:
            acked.append([i, msg.partition(), msg.offset()])
            if len(acked) % 500 == 0:
                print('acked %d' % len(acked), flush=True)

    p = Producer({
        'bootstrap.servers': args['bootstrap'],
        'enable.idempotence': True,
        'linger.ms': 5,
        'batch.num.messages': 50,
        'message.timeout.ms': 120000,
        'retry.backoff.ms': 100,
        'reconnect.backoff.ms': 100,
        'reconnect.backoff.max.ms': 500,
    })
    # a first message to be sure the producer id is there before the load starts
    keys = args.get('keys')

    def key(i):
        return ('k-%d' % (i % keys if keys else i)).encode()

    p.produce(args['topic'], key=key(0), value=b'm-0', on_delivery=report)
    p.flush(30)
    print('ready', flush=True)
    pause_every = args.get('pause_every', 20)
    pause_s = args.get('pause_ms', 2) / 1000.0
    produced = 1
    for i in range(1, args['max_count']):
        while True:
            try:
                p.produce(args['topic'], key=key(i), value=('m-%d' % i).encode(), on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        produced += 1
        if i % pause_every == 0:
            time.sleep(pause_s)
            if select.select([sys.stdin], [], [], 0)[0] and sys.stdin.readline().strip() == 'stop':
                break
    left = p.flush(120)
    print(json.dumps({'produced': produced, 'acked': acked, 'errors': errors, 'unflushed': left}), flush=True)


if __name__ == '__main__':
    main()

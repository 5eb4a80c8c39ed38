"""Secured produce/consume round trips for the kfk security tests, with kafka-python 2.0.2 or confluent-kafka 1.7
(librdkafka 2.0.2).

Usage: /usr/bin/python3 secure_roundtrip.py <kp|ck> '<json>'   (prints one JSON document on stdout)

  {"bootstrap", "topic", "values": [..], "config": {client settings}, "group"?: "<group id>"}
  -> {"produced": n, "consumed": [values in order]}  or  {"error": "<what the client reported>"}

kafka-python settings use its own names (security_protocol, ssl_cafile, sasl_mechanism, ...); confluent-kafka
settings librdkafka's (security.protocol, ssl.ca.location, sasl.mechanisms, ...). The consumer reads the topic from
the beginning (with the group if given, committing) until it has as many records as were produced.
"""
import json
import sys
import time


def kp(args):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import KafkaError
    cfg = dict(args.get('config', {}))
    try:
        producer = KafkaProducer(bootstrap_servers=args['bootstrap'], acks='all', **cfg)
        for v in args['values']:
            producer.send(args['topic'], value=v.encode()).get(timeout=20)
        producer.close(timeout=10)
        consumer = KafkaConsumer(args['topic'], bootstrap_servers=args['bootstrap'], group_id=args.get('group'),
                                 auto_offset_reset='earliest', consumer_timeout_ms=15000, **cfg)
        got = []
        for m in consumer:
            got.append(m.value.decode())
            if len(got) >= len(args['values']):
                break
        if args.get('group'):
            consumer.commit()
        consumer.close()
        return {'produced': len(args['values']), 'consumed': got}
    except Exception as e:  # the client's own report of a refused connection or authentication
        return {'error': '%s: %s' % (type(e).__name__, e)}


def ck(args):
    from confluent_kafka import Consumer, KafkaException, Producer
    cfg = dict(args.get('config', {}))
    errors = []
    cfg_p = dict(cfg, **{'bootstrap.servers': args['bootstrap'],
                         'error_cb': lambda err: errors.append(str(err))})
    producer = Producer(cfg_p)
    reports = []
    for v in args['values']:
        producer.produce(args['topic'], value=v.encode(), on_delivery=lambda err, msg: reports.append(err))
    deadline = time.time() + 20
    while len(reports) < len(args['values']) and time.time() < deadline:
        producer.poll(0.2)
        if any('Authentication' in e or 'SSL' in e or 'authentication' in e for e in errors):
            return {'error': errors[0]}
    if len(reports) < len(args['values']) or any(r is not None for r in reports):
        return {'error': errors[0] if errors else 'delivery failed: %s' % [str(r) for r in reports]}
    consumer = Consumer(dict(cfg, **{'bootstrap.servers': args['bootstrap'], 'group.id': args.get('group') or 'ck-secure',
                                     'auto.offset.reset': 'earliest', 'enable.auto.commit': False,
                                     'error_cb': lambda err: errors.append(str(err))}))
    consumer.subscribe([args['topic']])
    got = []
    deadline = time.time() + 20
    while len(got) < len(args['values']) and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is None or m.error():
            continue
        got.append(m.value().decode())
    if args.get('group'):
        consumer.commit(asynchronous=False)
    consumer.close()
    return {'produced': len(args['values']), 'consumed': got}


if __name__ == '__main__':
    which, raw = sys.argv[1], sys.argv[2]
    out = {'kp': kp, 'ck': ck}[which](json.loads(raw))
    print(json.dumps(out))

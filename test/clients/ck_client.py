"""confluent-kafka-python 1.7.0 (librdkafka 2.0.2) driver for the kfk integration tests.

Usage: /usr/bin/python3 ck_client.py <command> '<json>'   (prints one JSON document on stdout)

Commands (all take "bootstrap"):
  create_topics {topics: [{name, partitions}]}       -> {"<name>": null | "<error string>"}
  list_topics   {}                                    -> {"brokers": [{id, host, port}], "controller_id": n,
                                                          "topics": {"<name>": {"partitions": [..], "error": ..}}}
  produce       {topic, records: [{key?, value, headers?: [[k, v]], partition?, timestamp?}], config?: {..}}
                -> {"reports": [{error, partition, offset, timestamp}]}   (one delivery report per record)
  consume       {topic, partitions: [..], timeout_ms?}  assign at OFFSET_BEGINNING, read up to the high watermarks
                -> {"records": [{partition, offset, key, value, headers, timestamp}], "high": {p: n}}
Keys, values and header values are UTF-8 strings (null stays null).
"""
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def enc(s):
    return None if s is None else s.encode('utf-8')


def dec(b):
    return None if b is None else b.decode('utf-8')


def create_topics(args):
    admin = AdminClient({'bootstrap.servers': args['bootstrap']})
    futures = admin.create_topics([NewTopic(t['name'], num_partitions=t['partitions'], replication_factor=1)
                                   for t in args['topics']], operation_timeout=10, request_timeout=15)
    out = {}
    for name, f in futures.items():
        try:
            f.result(timeout=20)
            out[name] = None
        except Exception as e:  # KafkaException wrapping a KafkaError
            out[name] = str(e)
    return out


def list_topics(args):
    admin = AdminClient({'bootstrap.servers': args['bootstrap']})
    md = admin.list_topics(timeout=15)
    return {
        'brokers': [{'id': b.id, 'host': b.host, 'port': b.port} for b in md.brokers.values()],
        'controller_id': md.controller_id,
        'topics': {name: {'partitions': sorted(t.partitions.keys()),
                          'leaders': {str(p): pm.leader for p, pm in t.partitions.items()},
                          'error': None if t.error is None else str(t.error)}
                   for name, t in md.topics.items()},
    }


def produce(args):
    config = {'bootstrap.servers': args['bootstrap'], 'linger.ms': 50}
    config.update(args.get('config', {}))
    producer = Producer(config)
    reports = []

    def on_delivery(err, msg):
        reports.append({'error': None if err is None else str(err), 'partition': msg.partition(),
                        'offset': msg.offset(), 'timestamp': msg.timestamp()[1], 'key': dec(msg.key())})

    for r in args['records']:
        kwargs = {'value': enc(r.get('value')), 'key': enc(r.get('key')), 'on_delivery': on_delivery}
        if r.get('headers'):
            kwargs['headers'] = [(k, enc(v)) for k, v in r['headers']]
        if r.get('partition') is not None:
            kwargs['partition'] = r['partition']
        if r.get('timestamp') is not None:
            kwargs['timestamp'] = r['timestamp']
        producer.produce(args['topic'], **kwargs)
    remaining = producer.flush(30)
    return {'reports': reports, 'undelivered': remaining}


def consume(args):
    consumer = Consumer({'bootstrap.servers': args['bootstrap'], 'group.id': 'kfk-test-unused',
                         'enable.auto.commit': False, 'enable.auto.offset.store': False})
    topic = args['topic']
    tps = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in args['partitions']]
    high = {}
    for tp in tps:
        _low, hi = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
        high[tp.partition] = hi
    consumer.assign(tps)
    next_offset = {tp.partition: 0 for tp in tps}
    records = []
    deadline = time.time() + args.get('timeout_ms', 20000) / 1000.0
    while any(next_offset[p] < high[p] for p in high):
        if time.time() > deadline:
            raise RuntimeError('timed out: next offsets %s, high watermarks %s' % (next_offset, high))
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise RuntimeError('consume error: %s' % msg.error())
        records.append({'partition': msg.partition(), 'offset': msg.offset(), 'key': dec(msg.key()),
                        'value': dec(msg.value()),
                        'headers': [[k, dec(v)] for k, v in (msg.headers() or [])],
                        'timestamp': msg.timestamp()[1]})
        next_offset[msg.partition()] = msg.offset() + 1
    consumer.close()
    records.sort(key=lambda r: (r['partition'], r['offset']))
    return {'records': records, 'high': {str(p): h for p, h in high.items()}}


COMMANDS = {'create_topics': create_topics, 'list_topics': list_topics, 'produce': produce, 'consume': consume}

if __name__ == '__main__':
    command = sys.argv[1]
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print(json.dumps(COMMANDS[command](arguments)))

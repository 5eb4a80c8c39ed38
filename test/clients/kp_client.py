"""kafka-python 2.0.2 driver for the kfk integration tests.

Usage: /usr/bin/python3 kp_client.py <command> '<json>'   (prints one JSON document on stdout)

Commands (all take "bootstrap"):
  codecs                      -> {"gzip": bool, "snappy": bool, "lz4": bool, "zstd": bool}  (client-side libraries)
  produce   {topic, records: [{key?, value, headers?: [[k, v]], timestamp_ms?, partition?}], acks?, compression?,
             flush_each?}
            -> {"api_version": [..], "results": [{partition, offset, timestamp}]}
  produce_lines {topic, partition?}   long-lived: one record per stdin line, prints 'ack <line> <offset>' lines
  consume   {topic, partitions?: [..], timeout_ms?}  assign + seek_to_beginning, read up to the end offsets
            -> {"records": [{partition, offset, key, value, headers, timestamp, timestamp_type}], "end_offsets": {p: n}}
  offsets   {topic, partitions?: [..], times?: [ts, ..]}
            -> {"beginning": {p: n}, "end": {p: n}, "for_times": {"<ts>": {p: [offset, timestamp] | null}}}
Keys, values and header values are UTF-8 strings (null stays null).
"""
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def enc(s):
    return None if s is None else s.encode('utf-8')


def dec(b):
    return None if b is None else b.decode('utf-8')


def codecs(_args):
    from kafka import codec
    return {'gzip': codec.has_gzip(), 'snappy': codec.has_snappy(), 'lz4': codec.has_lz4(), 'zstd': codec.has_zstd()}


def produce(args):
    config = {'bootstrap_servers': args['bootstrap'], 'acks': args.get('acks', 1), 'linger_ms': args.get('linger_ms', 20)}
    if args.get('compression'):
        config['compression_type'] = args['compression']
    producer = KafkaProducer(**config)
    futures = []
    for r in args['records']:
        headers = [(k, enc(v)) for k, v in r.get('headers', [])]
        futures.append(producer.send(args['topic'], value=enc(r.get('value')), key=enc(r.get('key')),
                                     headers=headers, timestamp_ms=r.get('timestamp_ms'),
                                     partition=r.get('partition')))
        if args.get('flush_each'):
            producer.flush(timeout=20)  # one batch per record
    producer.flush(timeout=20)
    results = []
    for f in futures:
        md = f.get(timeout=20)
        results.append({'partition': md.partition, 'offset': md.offset, 'timestamp': md.timestamp})
    api_version = list(producer.config['api_version'])
    producer.close(timeout=10)
    return {'api_version': api_version, 'results': results}


def produce_lines(args):
    """Long-lived producer: sends each stdin line as a record (acks=all), printing 'ack <line> <offset>' when done."""
    producer = KafkaProducer(bootstrap_servers=args['bootstrap'], acks='all', linger_ms=0)
    print('ready', flush=True)
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        value = line.rstrip('\n')
        md = producer.send(args['topic'], value=enc(value), partition=args.get('partition', 0)).get(timeout=20)
        print('ack %s %d' % (value, md.offset), flush=True)
    producer.close(timeout=10)
    return {'closed': True}


def _consumer(args):
    return KafkaConsumer(bootstrap_servers=args['bootstrap'], group_id=None, enable_auto_commit=False,
                         consumer_timeout_ms=500)


def _partitions(consumer, args):
    topic = args['topic']
    if args.get('partitions') is not None:
        return [TopicPartition(topic, p) for p in args['partitions']]
    deadline = time.time() + 10
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.time() > deadline:
            raise RuntimeError('no partitions for topic %s' % topic)
        time.sleep(0.1)


def consume(args):
    consumer = _consumer(args)
    tps = _partitions(consumer, args)
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    deadline = time.time() + args.get('timeout_ms', 20000) / 1000.0
    records = []
    while any(consumer.position(tp) < end[tp] for tp in tps):
        if time.time() > deadline:
            raise RuntimeError('timed out: positions %s, end offsets %s' % (
                {tp.partition: consumer.position(tp) for tp in tps}, {tp.partition: end[tp] for tp in tps}))
        for tp, msgs in consumer.poll(timeout_ms=500).items():
            for m in msgs:
                records.append({'partition': m.partition, 'offset': m.offset, 'key': dec(m.key), 'value': dec(m.value),
                                'headers': [[k, dec(v)] for k, v in m.headers], 'timestamp': m.timestamp,
                                'timestamp_type': m.timestamp_type})
    consumer.close()
    records.sort(key=lambda r: (r['partition'], r['offset']))
    return {'records': records, 'end_offsets': {str(tp.partition): end[tp] for tp in tps}}


def offsets(args):
    consumer = _consumer(args)
    tps = _partitions(consumer, args)
    out = {
        'beginning': {str(tp.partition): o for tp, o in consumer.beginning_offsets(tps).items()},
        'end': {str(tp.partition): o for tp, o in consumer.end_offsets(tps).items()},
        'for_times': {},
    }
    for ts in args.get('times', []):
        found = consumer.offsets_for_times({tp: ts for tp in tps})
        out['for_times'][str(ts)] = {
            str(tp.partition): (None if v is None else [v.offset, v.timestamp]) for tp, v in found.items()
        }
    consumer.close()
    return out


COMMANDS = {'codecs': codecs, 'produce': produce, 'produce_lines': produce_lines, 'consume': consume, 'offsets': offsets}

if __name__ == '__main__':
    command = sys.argv[1]
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print(json.dumps(COMMANDS[command](arguments)))

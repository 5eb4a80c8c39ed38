"""confluent-kafka-python (librdkafka) transactions, for test/integration/transactions*.test.ts.

Usage: /usr/bin/python3 ck_transactions.py <mode> '<json>'

Every mode's json may carry client_config: librdkafka settings added to its clients' (security, for example).

produce  {bootstrap, transactional_id, topic, transactions: [{commit, values, partition?}], timeout_ms?,
          transaction_timeout_ms?}
         Runs each transaction (begin, produce key=value=v, flush, commit or abort; a retriable commit/abort error is
         retried, as librdkafka's docs say) and prints {"results": ["committed"|"aborted"|"<error>", ...]}.
init     {bootstrap, transactional_id, transaction_timeout_ms}
         Only init_transactions(); prints {"error": null | {"code": name, "fatal": bool, "retriable": bool}}.
hang     {bootstrap, transactional_id, topic, values, transaction_timeout_ms, partition?}
         Begins a transaction, produces and flushes the values, prints "open", then waits to be killed.
fence    {bootstrap, transactional_id, topic}
         A zombie: producer A begins a transaction and produces "zombie"; producer B (same transactional id) inits,
         which fences A and aborts its transaction; A's commit must fail. B then commits "fresh". Prints
         {"a_error": name, "a_fatal": bool, "b": "committed"}.
eos      {bootstrap, transactional_id, group, input, output, per_txn, expect, hold_after?}
         A consume-transform-produce loop: reads `input` (read_committed, group `group`, offsets only through the
         transaction), writes "out-<value>" to `output`, per_txn records per transaction with
         send_offsets_to_transaction, and prints "committed <total>" after each commit, until `expect` records were
         processed in total (counting what the group had committed before this run). With hold_after, the first
         transaction that starts once that many records are committed is produced and flushed, then the loop prints
         "holding" and waits (to be killed with the transaction open).
consume  {bootstrap, topic, isolation, partitions, idle_ms?, expect?}
         Reads every partition from the beginning with a consumer of that isolation.level; prints the values as a
         JSON list once `expect` values arrived (if given) and nothing more came for idle_ms.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def err_name(e):
    return e.name() if hasattr(e, 'name') else str(e)


def retrying(call, deadline):
    """Calls a transactional API until it succeeds or fails with an error that is not retriable."""
    while True:
        try:
            call()
            return None
        except KafkaException as ex:
            e = ex.args[0]
            if e.retriable() and time.time() < deadline:
                time.sleep(0.2)
                continue
            return e


def producer(a, **extra):
    conf = {
        'bootstrap.servers': a['bootstrap'],
        'transactional.id': a['transactional_id'],
        'transaction.timeout.ms': a.get('transaction_timeout_ms', 60000),
        'message.timeout.ms': a.get('transaction_timeout_ms', 60000),
        'linger.ms': 5,
    }
    conf.update(a.get('client_config', {}))
    conf.update(extra)
    return Producer(conf)


def mode_produce(a):
    timeout = a.get('timeout_ms', 60000) / 1000.0
    p = producer(a)
    p.init_transactions(timeout)
    results = []
    for t in a['transactions']:
        p.begin_transaction()
        for v in t['values']:
            if 'partition' in t:
                p.produce(a['topic'], key=v.encode(), value=v.encode(), partition=t['partition'])
            else:
                p.produce(a['topic'], key=v.encode(), value=v.encode())
        p.flush(timeout)
        deadline = time.time() + timeout
        if t['commit']:
            e = retrying(lambda: p.commit_transaction(timeout), deadline)
            results.append('committed' if e is None else err_name(e))
        else:
            e = retrying(lambda: p.abort_transaction(timeout), deadline)
            results.append('aborted' if e is None else err_name(e))
    print(json.dumps({'results': results}), flush=True)


def mode_init(a):
    p = producer(a)
    try:
        p.init_transactions(30)
        print(json.dumps({'error': None}), flush=True)
    except KafkaException as ex:
        e = ex.args[0]
        print(json.dumps({'error': {'code': err_name(e), 'fatal': e.fatal(), 'retriable': e.retriable()}}), flush=True)


def mode_hang(a):
    p = producer(a)
    p.init_transactions(30)
    p.begin_transaction()
    for v in a['values']:
        p.produce(a['topic'], key=v.encode(), value=v.encode(), partition=a.get('partition', -1))
    p.flush(30)
    print('open', flush=True)
    while True:
        time.sleep(1)


def mode_fence(a):
    za = producer(a)
    za.init_transactions(30)
    za.begin_transaction()
    za.produce(a['topic'], key=b'zombie', value=b'zombie')
    za.flush(30)
    b = producer(a)
    b.init_transactions(30)  # fences A: A's open transaction is aborted
    a_error = None
    a_fatal = False
    try:
        za.produce(a['topic'], key=b'zombie-2', value=b'zombie-2')
        za.flush(10)
        za.commit_transaction(30)
    except KafkaException as ex:
        e = ex.args[0]
        a_error = err_name(e)
        a_fatal = e.fatal()
    b.begin_transaction()
    b.produce(a['topic'], key=b'fresh', value=b'fresh')
    b.flush(30)
    e = retrying(lambda: b.commit_transaction(30), time.time() + 30)
    print(json.dumps({'a_error': a_error, 'a_fatal': a_fatal, 'b': 'committed' if e is None else err_name(e)}), flush=True)


def mode_eos(a):
    consumer = Consumer({
        'bootstrap.servers': a['bootstrap'],
        'group.id': a['group'],
        'auto.offset.reset': 'earliest',
        'enable.auto.commit': False,
        'isolation.level': 'read_committed',
        'session.timeout.ms': 6000,
    })
    p = producer(a)
    p.init_transactions(60)
    consumer.subscribe([a['input']])
    hold_after = a.get('hold_after')
    done = 0
    while True:
        msgs = consumer.consume(num_messages=a['per_txn'], timeout=1.0)
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            continue
        p.begin_transaction()
        for m in msgs:
            p.produce(a['output'], key=m.key(), value=b'out-' + m.value(), partition=m.partition())
        if hold_after is not None and done >= hold_after:
            p.flush(30)
            print('holding', flush=True)
            while True:
                time.sleep(1)
        p.send_offsets_to_transaction(consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 30)
        e = retrying(lambda: p.commit_transaction(60), time.time() + 60)
        if e is not None:
            raise KafkaException(e)
        committed = consumer.committed(consumer.assignment(), timeout=30)
        done = sum(tp.offset for tp in committed if tp.offset >= 0)
        print('committed %d' % done, flush=True)
        if done >= a['expect']:
            break
    consumer.close()


def mode_consume(a):
    c = Consumer({
        'bootstrap.servers': a['bootstrap'],
        'group.id': 'ck-transactions-reader',
        'enable.auto.commit': False,
        'isolation.level': a['isolation'],
        **a.get('client_config', {}),
    })
    c.assign([TopicPartition(a['topic'], p, 0) for p in range(a['partitions'])])
    idle = a.get('idle_ms', 2000) / 1000.0
    expect = a.get('expect', 0)
    deadline = time.time() + 60
    out = []
    last = time.time()
    while time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            if len(out) >= expect and time.time() - last > idle:
                break
            continue
        if m.error():
            continue
        out.append(m.value().decode())
        last = time.time()
    c.close()
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    modes = {'produce': mode_produce, 'init': mode_init, 'hang': mode_hang, 'fence': mode_fence, 'eos': mode_eos, 'consume': mode_consume}
    modes[sys.argv[1]](json.loads(sys.argv[2]))

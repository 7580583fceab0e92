#!/usr/bin/env node
// Drives a Sluice broker with kafkajs. Run by test/interop_test.go:
//
//   node kafkajs_test.js produce BROKER TOPIC N
//   node kafkajs_test.js group   BROKER TOPIC GROUP N
//   node kafkajs_test.js admin   BROKER TOPIC PARTITIONS
//   node kafkajs_test.js txn     BROKER IN OUT GROUP N
//
// Each mode checks exact records itself, prints one JSON line with what it
// did for the Go side to cross-check with franz-go, and exits non-zero with
// a message on stderr on any mismatch or error.
'use strict';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const { Kafka, logLevel, Partitioners } = require('kafkajs');

function fail(msg) {
  process.stderr.write(`kafkajs: ${msg}\n`);
  process.exit(1);
}

function newKafka(broker, clientId) {
  return new Kafka({
    clientId,
    brokers: [broker],
    logLevel: logLevel.ERROR,
    connectionTimeout: 5000,
    requestTimeout: 15000,
    retry: { retries: 5, initialRetryTime: 100 },
  });
}

// record i of a topic: key k-(i%7), value v-i, headers seq=i and origin=kafkajs.
function record(i) {
  return { key: `k-${i % 7}`, value: `v-${i}`, headers: { seq: String(i), origin: 'kafkajs' } };
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function produce(broker, topic, n) {
  const kafka = newKafka(broker, 'interop-kafkajs-producer');
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < n; i++) messages.push(record(i));
  // Two sends: one batch of half, then the rest one request each.
  const half = Math.floor(n / 2);
  const results = [];
  results.push(...(await producer.send({ topic, acks: -1, messages: messages.slice(0, half) })));
  for (const m of messages.slice(half)) {
    results.push(...(await producer.send({ topic, acks: -1, messages: [m] })));
  }
  await producer.disconnect();
  for (const r of results) {
    if (r.errorCode !== 0) fail(`produce to ${r.topicName}/${r.partition}: error code ${r.errorCode}`);
  }
  console.log(JSON.stringify({ produced: n }));
}

async function group(broker, topic, groupId, n) {
  const kafka = newKafka(broker, 'interop-kafkajs-group');
  const admin = kafka.admin();
  await admin.connect();
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const partitions = meta.topics[0].partitions.map((p) => p.partitionId).sort();
  if (partitions.length < 2) fail(`topic ${topic} has ${partitions.length} partitions, need at least 2`);

  const members = [0, 1].map((idx) => ({
    idx,
    consumer: kafka.consumer({
      groupId,
      sessionTimeout: 10000,
      rebalanceTimeout: 10000,
      heartbeatInterval: 300,
      maxWaitTimeInMs: 200,
    }),
    assignment: [],
    memberId: null,
    got: [],
  }));
  const seen = new Map(); // "p/o" -> member idx
  let total = 0;
  let errors = [];

  for (const m of members) {
    m.consumer.on(m.consumer.events.GROUP_JOIN, (e) => {
      m.memberId = e.payload.memberId;
      m.assignment = (e.payload.memberAssignment[topic] || []).slice().sort();
    });
    m.consumer.on(m.consumer.events.CRASH, (e) => errors.push(`member ${m.idx} crashed: ${e.payload.error}`));
    await m.consumer.connect();
    await m.consumer.subscribe({ topics: [topic], fromBeginning: true });
    await m.consumer.run({
      autoCommit: true,
      autoCommitThreshold: 1,
      eachMessage: async ({ partition, message }) => {
        const k = `${partition}/${message.offset}`;
        if (seen.has(k)) errors.push(`record ${k} delivered twice (members ${seen.get(k)} and ${m.idx})`);
        seen.set(k, m.idx);
        if (!m.assignment.includes(partition)) errors.push(`member ${m.idx} got partition ${partition} outside its assignment ${m.assignment}`);
        m.got.push({ partition, offset: Number(message.offset), key: message.key && message.key.toString(), value: message.value && message.value.toString(), headers: message.headers });
        total++;
      },
    });
  }

  // Wait until the two members split the partitions between them.
  const deadline = Date.now() + 20000;
  for (;;) {
    const [a, b] = members.map((m) => m.assignment);
    const union = [...a, ...b].sort();
    if (a.length > 0 && b.length > 0 && JSON.stringify(union) === JSON.stringify(partitions)) break;
    if (Date.now() > deadline) fail(`group never split ${partitions} between two members: member 0 has ${a}, member 1 has ${b}`);
    if (errors.length) fail(errors.join('; '));
    await sleep(50);
  }

  // Produce to every partition only now, so each member must receive some.
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < n; i++) messages.push({ ...record(i), partition: partitions[i % partitions.length] });
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();

  while (total < n && Date.now() < deadline + 20000 && errors.length === 0) await sleep(50);
  // Give any duplicate a moment to show up, and let the last commits go out.
  await sleep(500);
  for (const m of members) await m.consumer.disconnect();
  await admin.disconnect();
  if (errors.length) fail(errors.join('; '));
  if (total !== n) fail(`group consumed ${total} records, want ${n}`);

  const values = new Set();
  for (const m of members) {
    if (m.got.length === 0) fail(`member ${m.idx} (partitions ${m.assignment}) got no records`);
    for (const r of m.got) {
      const i = Number(r.headers.seq && r.headers.seq.toString());
      const want = record(i);
      if (r.key !== want.key || r.value !== want.value || String(r.headers.origin) !== 'kafkajs') {
        fail(`record ${r.partition}/${r.offset}: got key=${r.key} value=${r.value} headers=${JSON.stringify(r.headers)}`);
      }
      if (r.partition !== partitions[i % partitions.length]) fail(`record ${i} in partition ${r.partition}`);
      if (values.has(r.value)) fail(`value ${r.value} consumed twice`);
      values.add(r.value);
    }
  }
  console.log(JSON.stringify({
    members: members.map((m) => ({ memberId: m.memberId, partitions: m.assignment, records: m.got.length })),
  }));
}

async function admin(broker, topic, partitions) {
  const kafka = newKafka(broker, 'interop-kafkajs-admin');
  const adm = kafka.admin();
  await adm.connect();
  const created = await adm.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
  });
  if (created !== true) fail(`createTopics(${topic}) returned ${created}, want true`);
  const topics = await adm.listTopics();
  if (!topics.includes(topic)) fail(`listTopics ${JSON.stringify(topics)} lacks ${topic}`);
  const meta = await adm.fetchTopicMetadata({ topics: [topic] });
  const got = meta.topics[0].partitions.length;
  if (got !== partitions) fail(`topic ${topic} has ${got} partitions, want ${partitions}`);
  await adm.disconnect();
  console.log(JSON.stringify({ topics: topics.sort() }));
}

// txn consumes the N records of IN in GROUP (read_committed) and, per
// batch, produces them transformed to OUT in a transaction that also
// commits the batch's offsets with sendOffsets. The first batch is first
// copied in a transaction that is aborted. It then reads OUT read_committed
// and checks that it holds exactly the N transformed records.
async function txn(broker, inTopic, outTopic, groupId, n) {
  const kafka = newKafka(broker, 'interop-kafkajs-txn');
  const producer = kafka.producer({
    transactionalId: `${groupId}-tx`,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: 30000,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10000,
    rebalanceTimeout: 10000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 200,
    readUncommitted: false,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [inTopic], fromBeginning: true });

  const copied = new Set();
  let aborted = 0;
  let commits = 0;
  const errors = [];
  consumer.on(consumer.events.CRASH, (e) => errors.push(`consumer crashed: ${e.payload.error}`));
  const transformed = (m) => ({
    key: m.key,
    value: `js-${m.value.toString()}`,
    headers: { seq: m.headers.seq.toString(), origin: 'kafkajs-txn' },
  });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      if (batch.messages.length === 0) return;
      const offsets = {
        consumerGroupId: groupId,
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(Number(batch.messages[batch.messages.length - 1].offset) + 1) }] }],
      };
      if (aborted === 0) {
        const t = await producer.transaction();
        await t.send({ topic: outTopic, acks: -1, messages: batch.messages.map((m) => ({ ...transformed(m), value: `aborted-${transformed(m).value}` })) });
        await t.sendOffsets(offsets);
        await t.abort();
        aborted = batch.messages.length;
      }
      const t = await producer.transaction();
      try {
        await t.send({ topic: outTopic, acks: -1, messages: batch.messages.map(transformed) });
        await t.sendOffsets(offsets);
        await t.commit();
      } catch (e) {
        if (t.isActive()) await t.abort();
        throw e;
      }
      commits++;
      for (const m of batch.messages) {
        const v = m.value.toString();
        if (copied.has(v)) errors.push(`input ${v} copied in two committed transactions`);
        copied.add(v);
        resolveOffset(m.offset);
      }
      await heartbeat();
    },
  });

  const deadline = Date.now() + 40000;
  while (copied.size < n && errors.length === 0) {
    if (Date.now() > deadline) fail(`copied ${copied.size} of ${n} input records within 40s`);
    await sleep(50);
  }
  await consumer.disconnect();
  await producer.disconnect();
  if (errors.length) fail(errors.join('; '));

  // Read the output read_committed: exactly the N transformed records.
  const reader = kafka.consumer({ groupId: `${groupId}-check`, maxWaitTimeInMs: 200, readUncommitted: false });
  await reader.connect();
  await reader.subscribe({ topics: [outTopic], fromBeginning: true });
  const seen = new Map();
  await reader.run({
    eachMessage: async ({ partition, message }) => {
      const v = message.value.toString();
      const i = Number(message.headers.seq.toString());
      const want = record(i);
      if (v !== `js-${want.value}` || String(message.key) !== want.key || String(message.headers.origin) !== 'kafkajs-txn') {
        errors.push(`output ${partition}/${message.offset}: key=${message.key} value=${v} headers=${JSON.stringify(message.headers)}`);
      }
      if (seen.has(v)) errors.push(`output ${v} read twice`);
      seen.set(v, `${partition}/${message.offset}`);
    },
  });
  const readDeadline = Date.now() + 20000;
  while (seen.size < n && errors.length === 0 && Date.now() < readDeadline) await sleep(50);
  await sleep(500); // an aborted or duplicate record would show up by now
  await reader.disconnect();
  if (errors.length) fail(errors.join('; '));
  if (seen.size !== n) fail(`read_committed output holds ${seen.size} records, want ${n}`);
  console.log(JSON.stringify({ copied: copied.size, commits, aborted }));
}

async function main() {
  const [mode, broker, ...rest] = process.argv.slice(2);
  switch (mode) {
    case 'produce':
      return produce(broker, rest[0], Number(rest[1]));
    case 'group':
      return group(broker, rest[0], rest[1], Number(rest[2]));
    case 'admin':
      return admin(broker, rest[0], Number(rest[1]));
    case 'txn':
      return txn(broker, rest[0], rest[1], rest[2], Number(rest[3]));
    default:
      fail(`usage: kafkajs_test.js produce|group|admin|txn BROKER ...`);
  }
}

main().then(
  () => process.exit(0),
  (err) => fail(`${err && err.stack ? err.stack : err}${err && err.type ? ` (${err.type})` : ''}`),
);

#!/usr/bin/env node
// Drives a secured Sluice listener with kafkajs. Run by
// test/security_interop_test.go:
//
//   node kafkajs_security_test.js roundtrip BROKER TOPIC N SECURITY
//   node kafkajs_security_test.js refused   BROKER SECURITY
//
// SECURITY is JSON: ca (PEM file), mechanism (scram-sha-256, scram-sha-512,
// plain, oauthbearer, or aws to ask for a mechanism the broker does not
// have), user, password, token (OAUTHBEARER). roundtrip produces N records to partition 0 over
// TLS with SASL, reads them back and checks each one; refused expects the
// broker to refuse the credentials, prints the error and exits 0, or exits 1
// if the client got through.
'use strict';

const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

function fail(msg) {
  process.stderr.write(`kafkajs: ${msg}\n`);
  process.exit(1);
}

function saslConfig(sec) {
  const mechanism = sec.mechanism.toLowerCase();
  switch (mechanism) {
    case 'oauthbearer':
      return { mechanism, oauthBearerProvider: async () => ({ value: sec.token }) };
    case 'aws':
      return { mechanism, authorizationIdentity: 'x', accessKeyId: 'x', secretAccessKey: 'x' };
    default:
      return { mechanism, username: sec.user, password: sec.password };
  }
}

function newKafka(broker, sec) {
  return new Kafka({
    clientId: 'interop-kafkajs-security',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    requestTimeout: 15000,
    retry: { retries: 0 },
    ssl: { ca: [fs.readFileSync(sec.ca, 'utf8')] },
    sasl: saslConfig(sec),
  });
}

function record(i) {
  return { key: `k-${i % 7}`, value: `v-${i}`, headers: { seq: String(i), origin: 'kafkajs-sasl_ssl' } };
}

async function roundtrip(broker, topic, n, sec) {
  const kafka = newKafka(broker, sec);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < n; i++) messages.push({ ...record(i), partition: 0 });
  const res = await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
  if (res.length !== 1 || res[0].errorCode !== 0 || res[0].baseOffset !== '0') {
    fail(`produce answered ${JSON.stringify(res)}, want partition 0 from offset 0`);
  }

  const consumer = kafka.consumer({ groupId: `kafkajs-sec-${topic}`, maxWaitTimeInMs: 200, sessionTimeout: 10000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${got.length} of ${n} records in 30s`)), 30000);
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        got.push({ partition, message });
        if (got.length >= n) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  }).catch((e) => fail(e.message));
  await consumer.disconnect();
  got.forEach(({ partition, message }, i) => {
    const want = record(i);
    const h = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v.toString()]));
    if (partition !== 0 || message.offset !== String(i) || message.key.toString() !== want.key ||
        message.value.toString() !== want.value || h.seq !== want.headers.seq || h.origin !== want.headers.origin) {
      fail(`record ${i}: partition ${partition} offset ${message.offset} key ${message.key} value ${message.value} headers ${JSON.stringify(h)}`);
    }
  });
  console.log(JSON.stringify({ produced: n, consumed: got.length }));
}

async function refused(broker, sec) {
  const admin = newKafka(broker, sec).admin();
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    fail(`connected and listed topics ${JSON.stringify(topics)}`);
  } catch (e) {
    console.log(JSON.stringify({ refused: true, error: `${e.name}: ${e.message}` }));
  }
}

async function main() {
  const [mode, broker, ...args] = process.argv.slice(2);
  if (mode === 'roundtrip' && args.length === 3) {
    await roundtrip(broker, args[0], Number(args[1]), JSON.parse(args[2]));
  } else if (mode === 'refused' && args.length === 1) {
    await refused(broker, JSON.parse(args[0]));
  } else {
    fail(`bad arguments: ${process.argv.slice(2).join(' ')}`);
  }
}

main().then(() => process.exit(0), (e) => fail(`${e.name}: ${e.message}`));

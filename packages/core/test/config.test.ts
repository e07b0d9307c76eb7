import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/index.ts';

describe('configuration', () => {
  it('refuses an order retention shorter than the Idempotency-Key lifetime, naming both settings', () => {
    assert.throws(
      () => loadConfig({ ORDER_RETENTION_S: '60', IDEMPOTENCY_TTL_S: '120' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes('ORDER_RETENTION_S') &&
        error.message.includes('IDEMPOTENCY_TTL_S'),
    );
    assert.equal(loadConfig({ ORDER_RETENTION_S: '120', IDEMPOTENCY_TTL_S: '120' }).orderRetentionMs, 120_000);
    assert.equal(loadConfig({}).idempotencyTtlS, 24 * 3600, 'the defaults go together');
  });

  it("reads REDIS_MAXMEMORY in Redis's units, 1gb by default, and refuses what Redis would not take", () => {
    assert.equal(loadConfig({}).redisMaxmemoryBytes, 1024 ** 3);
    assert.equal(loadConfig({ REDIS_MAXMEMORY: '512MB' }).redisMaxmemoryBytes, 512 * 1024 ** 2);
    assert.equal(loadConfig({ REDIS_MAXMEMORY: '2g' }).redisMaxmemoryBytes, 2e9);
    assert.equal(loadConfig({ REDIS_MAXMEMORY: '100000000' }).redisMaxmemoryBytes, 1e8);
    for (const bad of ['0', '1mb', '1 gb', '1tb', 'lots', '-1gb'])
      assert.throws(
        () => loadConfig({ REDIS_MAXMEMORY: bad }),
        (error: unknown) => error instanceof ConfigError && error.message.includes('REDIS_MAXMEMORY'),
        bad,
      );
  });
});

describe('configuration errors name the variable and what it expects', () => {
  /** Every variable configuration.md lists (its first column), as a new user would set them. */
  const documented = [
    ...readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8').matchAll(
      /^\| `([A-Z][A-Z0-9_]+)`/gm,
    ),
  ].map((match) => match[1]!);
  const problemsOf = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message.split('\n').slice(1);
    }
  };

  it("never answers with zod's bare words (expected number, received NaN) for any variable", () => {
    assert.ok(documented.length > 40, `${documented.length} variables found`);
    for (const name of documented)
      for (const bad of ['x', '1.5', '-5', '99999999999999999999']) {
        for (const line of problemsOf({ [name]: bad })) {
          assert.doesNotMatch(
            line,
            /NaN|Invalid input|Invalid option|expected int|Too small|Too big/,
            `${name}=${bad}`,
          );
          assert.match(line, /^ {2}[A-Z][A-Z0-9_]+: \S/, `${name}=${bad}: ${line}`);
        }
      }
    assert.deepEqual(problemsOf({ PORT: 'eighty' }), ['  PORT: must be a whole number, at least 0 (got "eighty")']);
    assert.deepEqual(problemsOf({ NODE_ENV: 'prod' }), ['  NODE_ENV: development, production or test']);
  });

  it('a refused ORDER_RETENTION_S names its minimum, in seconds', () => {
    assert.deepEqual(problemsOf({ ORDER_RETENTION_S: '60' }), [
      '  ORDER_RETENTION_S: must be at least IDEMPOTENCY_TTL_S (86400 s here): an Idempotency-Key that outlives its order would let a retry make a second order',
    ]);
    assert.match(
      problemsOf({ ORDER_RETENTION_S: '60', IDEMPOTENCY_TTL_S: '120' })[0]!,
      /at least IDEMPOTENCY_TTL_S \(120 s here\)/,
    );
  });
});

describe('Redis Cluster and partition settings', () => {
  const refused = (env: Record<string, string>, setting: string) =>
    assert.throws(
      () => loadConfig(env),
      (error: unknown) => error instanceof ConfigError && error.message.includes(setting),
      JSON.stringify(env),
    );

  it('reads REDIS_CLUSTER_NODES as host:port or URLs, with one set of credentials and TLS for every node', () => {
    assert.equal(loadConfig({}).redisCluster, undefined);
    assert.deepEqual(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001' }).redisCluster, {
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      tls: false,
    });
    assert.deepEqual(
      loadConfig({ REDIS_CLUSTER_NODES: 'rediss://app:s%40cret@a.example:6380,rediss://app:s%40cret@b.example:6380' })
        .redisCluster,
      {
        nodes: [
          { host: 'a.example', port: 6380 },
          { host: 'b.example', port: 6380 },
        ],
        username: 'app',
        password: 's@cret',
        tls: true,
      },
    );
    for (const bad of [
      '',
      'nohost',
      'a:0',
      'a:70000',
      'redis://a:1/2',
      'redis://x:y@a:1,redis://a:2',
      'rediss://a:1,a:2',
    ])
      refused({ REDIS_CLUSTER_NODES: bad || ',' }, 'REDIS_CLUSTER_NODES');
  });

  it('has one partition on a single Redis and 16 on a cluster, a power of two up to 64, and a worker takes every one', () => {
    assert.equal(loadConfig({}).queuePartitions, 1);
    assert.deepEqual(loadConfig({}).workerPartitions, [0]);
    const cluster = loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000' });
    assert.equal(cluster.queuePartitions, 16);
    assert.equal(cluster.workerPartitions.length, 16);
    assert.deepEqual(
      loadConfig({ QUEUE_PARTITIONS: '8', WORKER_PARTITIONS: '0,2,5-7' }).workerPartitions,
      [0, 2, 5, 6, 7],
    );
    for (const bad of ['0', '3', '128', 'x']) refused({ QUEUE_PARTITIONS: bad }, 'QUEUE_PARTITIONS');
    refused({ QUEUE_PARTITIONS: '4', WORKER_PARTITIONS: '4' }, 'WORKER_PARTITIONS');
    refused({ WORKER_PARTITIONS: '2-1' }, 'WORKER_PARTITIONS');
    refused({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_PREFIX: 'x:{q}' }, 'QUEUE_PREFIX');
  });

  it('waits for no replica by default; a wait must end before the command timeout it runs under', () => {
    assert.deepEqual(loadConfig({}).replication, { replicas: 0, timeoutMs: 500 });
    assert.deepEqual(loadConfig({ REDIS_WAIT_REPLICAS: '2', REDIS_WAIT_TIMEOUT_MS: '200' }).replication, {
      replicas: 2,
      timeoutMs: 200,
    });
    refused({ REDIS_WAIT_REPLICAS: '1', REDIS_TIMEOUT_MS: '500' }, 'REDIS_WAIT_TIMEOUT_MS');
    assert.equal(loadConfig({ REDIS_TIMEOUT_MS: '500' }).replication.replicas, 0, 'no wait, no conflict');
    for (const bad of ['-1', 'x', '1.5']) refused({ REDIS_WAIT_REPLICAS: bad }, 'REDIS_WAIT_REPLICAS');
  });
});

describe('buyer token settings', () => {
  const SECRET = 'a-buyer-token-secret-of-32-chars!';
  const pemOf = (key: KeyObject, type: 'spki' | 'pkcs8' = 'spki') => key.export({ type, format: 'pem' }).toString();
  const refuses = (env: Record<string, string>, ...names: string[]) =>
    assert.throws(
      () => loadConfig(env),
      (error: unknown) => error instanceof ConfigError && names.every((name) => error.message.includes(name)),
      JSON.stringify(Object.keys(env)),
    );

  it('has none by default: the body names the buyer, as before', () => {
    assert.equal(loadConfig({}).buyerTokens, undefined);
  });

  it('reads an HS256 secret of 32+ characters, with the issuer and audience to require', () => {
    assert.deepEqual(
      loadConfig({ BUYER_TOKEN_SECRET: SECRET, BUYER_TOKEN_ISSUER: 'shop', BUYER_TOKEN_AUDIENCE: 'flashline' })
        .buyerTokens,
      { algorithm: 'HS256', key: SECRET, issuer: 'shop', audience: 'flashline', maxAgeS: 86_400 },
    );
    refuses({ BUYER_TOKEN_SECRET: SECRET.slice(0, 31) }, 'BUYER_TOKEN_SECRET', '32');
    assert.equal(loadConfig({ BUYER_TOKEN_SECRET: SECRET, BUYER_TOKEN_MAX_AGE_S: '600' }).buyerTokens?.maxAgeS, 600);
    refuses({ BUYER_TOKEN_SECRET: SECRET, BUYER_TOKEN_MAX_AGE_S: '0' }, 'BUYER_TOKEN_MAX_AGE_S');
  });

  it('reads a PEM public key as ES256 (P-256) or RS256, with real newlines or \\n escapes', () => {
    const ec = pemOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    assert.deepEqual(loadConfig({ BUYER_TOKEN_PUBLIC_KEY: ec }).buyerTokens, {
      algorithm: 'ES256',
      key: ec,
      issuer: undefined,
      audience: undefined,
      maxAgeS: 86_400,
    });
    assert.equal(loadConfig({ BUYER_TOKEN_PUBLIC_KEY: ec.replace(/\n/g, '\\n') }).buyerTokens?.key, ec);
    const rsa = pemOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
    assert.equal(loadConfig({ BUYER_TOKEN_PUBLIC_KEY: rsa }).buyerTokens?.algorithm, 'RS256');
  });

  it('refuses at start-up a key that cannot verify tokens, naming the setting', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    for (const key of [
      'not a key',
      '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
      pemOf(p384.publicKey),
      pemOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'pkcs8'),
      pemOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey),
      pemOf(generateKeyPairSync('ed25519').publicKey),
    ]) {
      refuses({ BUYER_TOKEN_PUBLIC_KEY: key }, 'BUYER_TOKEN_PUBLIC_KEY');
    }
  });

  it('refuses a secret and a public key at once, and an issuer or audience without either', () => {
    const ec = pemOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    refuses({ BUYER_TOKEN_SECRET: SECRET, BUYER_TOKEN_PUBLIC_KEY: ec }, 'BUYER_TOKEN_SECRET', 'BUYER_TOKEN_PUBLIC_KEY');
    refuses({ BUYER_TOKEN_ISSUER: 'shop' }, 'BUYER_TOKEN_ISSUER');
    refuses({ BUYER_TOKEN_AUDIENCE: 'flashline' }, 'BUYER_TOKEN_AUDIENCE');
  });
});

describe('webhook settings', () => {
  const SECRET = 'whsec-0123456789abcdef';
  const refused = (env: Record<string, string>, setting: string) =>
    assert.throws(
      () => loadConfig(env),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes(setting) &&
        // The message names the setting, never a secret's value.
        !error.message.includes(SECRET) &&
        !error.message.includes('short-secret'),
      JSON.stringify(env),
    );

  it('is off (null) without WEBHOOK_URL, and on with an http(s) URL and a 16+ character secret', () => {
    assert.equal(loadConfig({}).webhooks, null);
    const on = loadConfig({ WEBHOOK_URL: 'https://shop.example/hooks', WEBHOOK_SECRET: SECRET }).webhooks;
    assert.equal(on?.url, 'https://shop.example/hooks');
    assert.equal(on?.secret, SECRET);
    assert.equal(on?.timeoutMs, 10_000);
    assert.equal(
      loadConfig({ WEBHOOK_URL: 'http://127.0.0.1:9/x', WEBHOOK_SECRET: SECRET }).webhooks?.url,
      'http://127.0.0.1:9/x',
    );
  });

  it('refuses a URL that is not http(s), a missing or short secret, and a secret without a URL', () => {
    for (const url of ['ftp://shop.example/', 'shop.example/hooks', 'file:///etc/passwd', 'javascript:alert(1)'])
      refused({ WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET }, 'WEBHOOK_URL');
    refused({ WEBHOOK_URL: 'https://shop.example/hooks' }, 'WEBHOOK_SECRET');
    refused({ WEBHOOK_URL: 'https://shop.example/hooks', WEBHOOK_SECRET: 'short-secret' }, 'WEBHOOK_SECRET');
    refused({ WEBHOOK_SECRET: SECRET }, 'WEBHOOK_URL');
  });

  it('bounds the webhook backlog: 250,000 events a partition by default, never less than one relay step moves', () => {
    const on = { WEBHOOK_URL: 'https://shop.example/hooks', WEBHOOK_SECRET: SECRET };
    assert.deepEqual([loadConfig(on).webhooks?.backlogMax, loadConfig(on).webhooks?.inFlightMax], [250_000, 1000]);
    // 64 groups × 200 entries on one partition; 16 groups × 200 on four.
    refused({ ...on, WEBHOOK_BACKLOG_MAX: '12799' }, 'WEBHOOK_BACKLOG_MAX');
    assert.equal(loadConfig({ ...on, WEBHOOK_BACKLOG_MAX: '12800' }).webhooks?.backlogMax, 12_800);
    assert.equal(loadConfig({ ...on, QUEUE_PARTITIONS: '4', WEBHOOK_BACKLOG_MAX: '3200' }).webhooks?.backlogMax, 3200);
    refused({ ...on, WEBHOOK_INFLIGHT_MAX: '0' }, 'WEBHOOK_INFLIGHT_MAX');
  });

  it('never shows the secret (nor the URL password) when the config is serialised or inspected', async () => {
    const { inspect } = await import('node:util');
    const config = loadConfig({ WEBHOOK_URL: 'https://hook:pa55word@shop.example/hooks', WEBHOOK_SECRET: SECRET });
    for (const shown of [JSON.stringify(config), inspect(config, { depth: 5 }), JSON.stringify({ ...config })]) {
      assert.ok(!shown.includes(SECRET), 'the secret was shown');
      assert.ok(!shown.includes('pa55word'), 'the URL password was shown');
      assert.ok(shown.includes('shop.example'), 'the redacted URL is still shown');
    }
  });
});

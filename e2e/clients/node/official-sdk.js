// Requests signed by Alibaba Cloud API Gateway's official Node.js SDK (npm aliyun-api-gateway),
// used as its README shows. Run by e2e/tests/official_clients.rs:
//   node official-sdk.js URL GATEWAY_IP APP_KEY APP_SECRET APP_CODE
// URL is the group's (http://shop.example.com:PORT); its name resolves to GATEWAY_IP here, as
// DNS would point it at the gateway. Prints one JSON line per request:
// {name, status, errorCode, errorMessage, echo}.
'use strict';

const httpx = require('httpx');
const { Client, SimpleClient, CONTENT_TYPE_FORM, CONTENT_TYPE_JSON } = require('aliyun-api-gateway');

const [base, gatewayIp, appKey, appSecret, appCode] = process.argv.slice(2);

function resolveToGateway(hostname, options, callback) {
  if (options.all) callback(null, [{ address: gatewayIp, family: 4 }]);
  else callback(null, gatewayIp, 4);
}

// The SDK sends what it signed; a tampered request changes it on the way out, as a man in the
// middle would.
const send = httpx.request;
let tamper = null;
httpx.request = (url, opts) => {
  const before = opts.beforeRequest || ((options) => options);
  const routed = { ...opts, beforeRequest: (options) => ({ ...before(options), lookup: resolveToGateway }) };
  return send(tamper ? tamper(url, routed) : url, routed);
};

async function call(name, request) {
  let line;
  try {
    const echo = await request();
    line = { name, status: 200, echo };
  } catch (err) {
    const headers = (err.data && err.data.headers) || {};
    if (!err.code) throw err;
    line = {
      name,
      status: err.code,
      errorCode: headers['x-ca-error-code'] || '',
      errorMessage: headers['x-ca-error-message'] || '',
    };
  }
  tamper = null;
  console.log(JSON.stringify(line));
}

async function main() {
  const client = new Client(appKey, appSecret);
  await call('get-with-query', () =>
    client.get(`${base}/profile`, { query: { name: 'a b', city: 'Zürich', page: '2' } }));
  await call('post-form', () =>
    client.post(`${base}/profile?from=sdk`, {
      data: { item: 'tea & cake', count: '3' },
      headers: { 'content-type': CONTENT_TYPE_FORM },
    }));
  await call('post-json', () =>
    client.post(`${base}/profile`, {
      data: { order: 42, note: 'signed with Content-MD5' },
      headers: { 'content-type': CONTENT_TYPE_JSON },
    }));
  await call('signed-header', () =>
    client.get(`${base}/profile`, { signHeaders: { 'x-tenant': 'blue' } }));

  tamper = (url, opts) => ({ ...url, path: url.path.replace('page=2', 'page=3') });
  await call('tampered-query', () =>
    client.get(`${base}/profile`, { query: { page: '2' } }));
  tamper = (url, opts) => {
    opts.data = opts.data.replace('42', '43');
    return url;
  };
  await call('tampered-json', () =>
    client.post(`${base}/profile`, { data: { order: 42 }, headers: { 'content-type': CONTENT_TYPE_JSON } }));
  await call('wrong-secret', () =>
    new Client(appKey, 'not-the-secret').get(`${base}/profile`, {}));

  await call('app-code', () => new SimpleClient(appCode).get(`${base}/profile`, {}));
}

main().catch((err) => {
  console.error(err.stack);
  process.exit(1);
});

// SPDX-License-Identifier: Apache-2.0
//
// ws-peer.mjs MODULE_DIR: a WebSocket server on 127.0.0.1 built on the npm
// `ws` package (installed into MODULE_DIR/node_modules by
// test-ws-peer.sh), an implementation no one here wrote, for common/ws.
// Prints "port N" once it listens, then one line per event it sees. The
// request path picks the behaviour:
//   /echo          echoes every message (text stays text)
//   /fragments     a binary message in three fragments with a ping in the
//                  middle, a text message whose UTF-8 character is split
//                  across fragments, then "pong:<payload>" after the pong
//   /big           3 MiB in 64 KiB fragments, then 5 MiB in one frame
//   /close         closes with 4001 "bye now"
//   /client-close  waits for the client to close; logs the code
//   /midmessage    the first fragment of a message, then drops the TCP
//                  connection
//   /keepalive     silent for 700 ms (the client pings), then "done" and a
//                  normal close
//   /refuse        answers the upgrade 403 with a Kubernetes Status body
// Subprotocols: v4.channel.k8s.io when offered, else none.
import { createRequire } from 'node:module';
import http from 'node:http';

const require = createRequire(process.argv[2] + '/');
const { WebSocketServer } = require('ws');

const log = (s) => process.stdout.write(s + '\n');

const wss = new WebSocketServer({
	noServer: true,
	perMessageDeflate: false,
	maxPayload: 16 << 20,
	handleProtocols: (protocols) =>
		protocols.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false,
});

const server = http.createServer((req, res) => {
	res.writeHead(426);
	res.end('upgrade required');
});

server.on('upgrade', (req, socket, head) => {
	const path = req.url;
	log(`upgrade ${path} protocol=${req.headers['sec-websocket-protocol'] || ''}` +
		` auth=${req.headers['authorization'] || ''}`);
	if (path === '/refuse') {
		const body = JSON.stringify({
			kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
			message: 'pods "p" is forbidden: User "u" cannot get resource "pods/portforward"',
			reason: 'Forbidden', code: 403,
		});
		socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n' +
			`Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
		return;
	}
	wss.handleUpgrade(req, socket, head, (ws) => run(ws, path));
});

function run(ws, path) {
	ws.on('close', (code, reason) => log(`${path} closed code=${code} reason=${reason.toString()}`));
	ws.on('error', (e) => log(`${path} error ${e.message}`));
	switch (path) {
	case '/echo':
		ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
		break;
	case '/fragments':
		ws.on('pong', (data) => {
			log(`/fragments pong ${data.toString()}`);
			ws.send(`pong:${data.toString()}`);
		});
		ws.send(Buffer.from('hel'), { binary: true, fin: false });
		ws.ping('are you there');
		ws.send(Buffer.from('lo '), { binary: true, fin: false });
		ws.send(Buffer.from('world'), { binary: true, fin: true });
		ws.send(Buffer.from([0x68, 0xc3]), { binary: false, fin: false });
		ws.send(Buffer.from([0xa9]), { binary: false, fin: true });
		break;
	case '/big': {
		const chunk = 64 << 10;
		for (let i = 0; i < 48; i++)
			ws.send(Buffer.alloc(chunk, i & 0xff), { binary: true, fin: i === 47 });
		ws.send(Buffer.alloc(5 << 20, 7), { binary: true });
		break;
	}
	case '/close':
		ws.close(4001, 'bye now');
		break;
	case '/client-close':
		break;
	case '/midmessage':
		ws.send(Buffer.alloc(1000, 1), { binary: true, fin: false });
		setTimeout(() => ws.terminate(), 100);
		break;
	case '/keepalive':
		ws.on('ping', () => log('/keepalive ping'));
		setTimeout(() => {
			ws.send('done');
			ws.close(1000, 'done');
		}, 700);
		break;
	default:
		ws.close(1008, 'unknown path');
	}
}

server.listen(0, '127.0.0.1', () => log(`port ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));

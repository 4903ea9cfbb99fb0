// Lets pods reach the API server, which listens on loopback only: a TCP relay
// from the node's address to it. CloudNativePG's operator and instance
// managers run in pods and watch the API; the `kubernetes` Service's endpoint
// is this relay (the API server advertises the node's address when the
// cluster runs CloudNativePG, src/cluster/cnpg.ts). Bytes only: TLS is end to
// end, between the pod's client and the API server.
//
//   node --import tsx src/cluster/api-relay.ts <listen ip> <port>
import { connect, createServer } from "node:net";

const [ip, portText] = process.argv.slice(2);
const port = Number(portText);
if (!ip || !Number.isInteger(port)) {
  console.error("usage: api-relay.ts <listen ip> <api server port>");
  process.exit(2);
}
createServer((client) => {
  const upstream = connect({ host: "127.0.0.1", port });
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close);
  upstream.on("error", close);
}).listen(port, ip, () => console.log(`relaying ${ip}:${port} to 127.0.0.1:${port}`));

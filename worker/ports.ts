import net from 'node:net';

function listenOn(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}

/** `preferred` when it is free (so URLs are the familiar ones), else any free port. */
export async function freePort(preferred?: number): Promise<number> {
  if (preferred !== undefined) {
    const got = await listenOn(preferred);
    if (got !== null) return got;
  }
  const any = await listenOn(0);
  if (any === null) throw new Error('no free TCP port on 127.0.0.1');
  return any;
}

package squall.storm;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.apache.storm.security.auth.ReqContext;
import org.apache.storm.security.auth.SimpleTransportPlugin;
import org.apache.storm.thrift.TException;
import org.apache.storm.thrift.TProcessor;
import org.apache.storm.thrift.protocol.TBinaryProtocol;
import org.apache.storm.thrift.protocol.TProtocol;
import org.apache.storm.thrift.server.THsHaServer;
import org.apache.storm.thrift.server.TServer;
import org.apache.storm.thrift.transport.TNonblockingServerSocket;
import org.apache.storm.thrift.transport.TTransportException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Storm's plain (unauthenticated, framed binary) Thrift transport, listening on {@code squall.bind.host} only.
 *
 * <p>Configured per connection type in storm.yaml ({@code nimbus.thrift.transport},
 * {@code supervisor.thrift.transport}). The wire is exactly {@link SimpleTransportPlugin}'s, whose client side this
 * class inherits, so {@code sparse} (thriftpy2, framed binary) and Storm's own clients talk to it unchanged; only the
 * server socket differs: Storm's binds the wildcard address, this one the configured host.
 */
public class HostBoundTransportPlugin extends SimpleTransportPlugin {
    private static final Logger LOG = LoggerFactory.getLogger(HostBoundTransportPlugin.class);
    private volatile int boundPort;

    @Override
    public TServer getServer(TProcessor processor) throws IOException, TTransportException {
        InetAddress host = BindHost.resolve(topoConf);
        TNonblockingServerSocket socket =
            new TNonblockingServerSocket(new InetSocketAddress(host, type.getPort(topoConf)));
        boundPort = socket.getPort();
        int threads = type.getNumThreads(topoConf);
        int maxBuffer = type.getMaxBufferSize(topoConf);
        THsHaServer.Args args = new THsHaServer.Args(socket)
            .processor(new PlainRequestProcessor(processor, host))
            .maxWorkerThreads(threads)
            .protocolFactory(new TBinaryProtocol.Factory(false, true, maxBuffer, -1));
        args.maxReadBufferBytes = maxBuffer;
        Integer queue = type.getQueueSize(topoConf);
        if (queue != null) {
            args.executorService(new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(queue)));
        }
        LOG.info("{} Thrift server listening on {}:{}", type, host.getHostAddress(), boundPort);
        return new THsHaServer(args);
    }

    @Override
    public int getPort() {
        return boundPort;
    }

    /**
     * Fills the request context as an unauthenticated transport must (no subject; the peer is local to the
     * listening address, since the non-blocking server hands the processor a frame, not a socket), then serves.
     */
    private static final class PlainRequestProcessor implements TProcessor {
        private final TProcessor served;
        private final InetAddress host;

        PlainRequestProcessor(TProcessor served, InetAddress host) {
            this.served = served;
            this.host = host;
        }

        @Override
        public void process(TProtocol in, TProtocol out) throws TException {
            ReqContext context = ReqContext.context();
            context.setRemoteAddress(host);
            context.setSubject(null);
            served.process(in, out);
        }
    }
}

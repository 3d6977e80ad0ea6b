package squall.storm;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.storm.Config;
import org.apache.storm.grouping.Load;
import org.apache.storm.messaging.ConnectionWithStatus;
import org.apache.storm.messaging.IConnectionCallback;
import org.apache.storm.messaging.TaskMessage;
import org.apache.storm.messaging.netty.BackPressureStatus;
import org.apache.storm.messaging.netty.BackPressureStatusEncoder;
import org.apache.storm.messaging.netty.ControlMessage;
import org.apache.storm.messaging.netty.INettySerializable;
import org.apache.storm.messaging.netty.ISaslServer;
import org.apache.storm.messaging.netty.MessageDecoder;
import org.apache.storm.messaging.netty.NettyRenameThreadFactory;
import org.apache.storm.messaging.netty.NettySerializableMessageEncoder;
import org.apache.storm.messaging.netty.NettyTlsUtils;
import org.apache.storm.messaging.netty.SaslStormServerAuthorizeHandler;
import org.apache.storm.messaging.netty.SaslStormServerHandler;
import org.apache.storm.messaging.netty.StormServerHandler;
import org.apache.storm.serialization.KryoValuesDeserializer;
import org.apache.storm.serialization.KryoValuesSerializer;
import org.apache.storm.shade.io.netty.bootstrap.ServerBootstrap;
import org.apache.storm.shade.io.netty.buffer.ByteBuf;
import org.apache.storm.shade.io.netty.buffer.PooledByteBufAllocator;
import org.apache.storm.shade.io.netty.channel.Channel;
import org.apache.storm.shade.io.netty.channel.ChannelInitializer;
import org.apache.storm.shade.io.netty.channel.ChannelOption;
import org.apache.storm.shade.io.netty.channel.ChannelPipeline;
import org.apache.storm.shade.io.netty.channel.EventLoopGroup;
import org.apache.storm.shade.io.netty.channel.group.ChannelGroup;
import org.apache.storm.shade.io.netty.channel.group.DefaultChannelGroup;
import org.apache.storm.shade.io.netty.channel.nio.NioEventLoopGroup;
import org.apache.storm.shade.io.netty.channel.socket.nio.NioServerSocketChannel;
import org.apache.storm.shade.io.netty.handler.ssl.SslContext;
import org.apache.storm.shade.io.netty.util.concurrent.GlobalEventExecutor;
import org.apache.storm.utils.ObjectReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A worker's receiving end of Storm's Netty messaging, listening on one address.
 *
 * <p>Protocol and behaviour are Storm's: the channel pipeline is built from Storm's public handlers (TLS when
 * {@code storm.messaging.netty.tls.enable}, {@link MessageDecoder}, the message and back-pressure encoders, SASL when
 * {@code storm.messaging.netty.authentication}), received task messages go to the worker's callback, and load metrics
 * and back-pressure updates go out to every connected worker.
 */
final class HostBoundNettyServer extends ConnectionWithStatus implements ISaslServer {
    /** The task id Storm's clients read load metrics from. */
    private static final int LOAD_METRICS_TASK = -1;
    private static final Logger LOG = LoggerFactory.getLogger(HostBoundNettyServer.class);

    private final Map<String, Object> conf;
    private final IConnectionCallback callback;
    private final Supplier<Object> greeting;
    private final boolean authRequired;
    private final KryoValuesSerializer serializer;
    private final EventLoopGroup acceptors;
    private final EventLoopGroup handlers;
    private final ChannelGroup channels = new DefaultChannelGroup("squall-storm-server", GlobalEventExecutor.INSTANCE);
    private final int boundPort;
    private final String label;
    private volatile boolean closing;

    @SuppressWarnings("deprecation") // Storm's own server uses the same (Netty 4.2-deprecated) NIO event loops
    HostBoundNettyServer(Map<String, Object> conf, InetAddress host, int port, IConnectionCallback callback,
                         Supplier<Object> greeting) {
        this.conf = conf;
        this.callback = callback;
        this.greeting = greeting;
        this.authRequired = ObjectReader.getBoolean(conf.get(Config.STORM_MESSAGING_NETTY_AUTHENTICATION), false);
        this.serializer = new KryoValuesSerializer(conf);
        this.label = "Netty-server-" + host.getHostAddress() + "-" + port;
        int bufferSize = ObjectReader.getInt(conf.get(Config.STORM_MESSAGING_NETTY_BUFFER_SIZE));
        int threads = ObjectReader.getInt(conf.get(Config.STORM_MESSAGING_NETTY_SERVER_WORKER_THREADS));
        int backlog = ObjectReader.getInt(conf.get(Config.STORM_MESSAGING_NETTY_SOCKET_BACKLOG), 500);
        acceptors = new NioEventLoopGroup(1, new NettyRenameThreadFactory(label + "-boss"));
        handlers = new NioEventLoopGroup(Math.max(threads, 0), new NettyRenameThreadFactory(label + "-worker"));
        SslContext tls = NettyTlsUtils.createSslContext(conf, true);
        ServerBootstrap bootstrap = new ServerBootstrap()
            .group(acceptors, handlers)
            .channel(NioServerSocketChannel.class)
            .option(ChannelOption.SO_REUSEADDR, true)
            .option(ChannelOption.SO_BACKLOG, backlog)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(ChannelOption.SO_RCVBUF, bufferSize)
            .childOption(ChannelOption.SO_KEEPALIVE, true)
            .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
            .childHandler(new Pipeline(tls));
        try {
            Channel listening = bootstrap.bind(new InetSocketAddress(host, port)).sync().channel();
            boundPort = ((InetSocketAddress) listening.localAddress()).getPort();
            channels.add(listening);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while binding " + label, e);
        }
        LOG.info("{} listening (buffer {} bytes, {} handler threads)", label, bufferSize, threads);
    }

    /** The handlers of one accepted connection, in Storm's order. */
    private final class Pipeline extends ChannelInitializer<Channel> {
        private final SslContext tls;

        Pipeline(SslContext tls) {
            this.tls = tls;
        }

        @Override
        protected void initChannel(Channel ch) throws IOException {
            ChannelPipeline p = ch.pipeline();
            if (tls != null) {
                p.addLast("ssl", tls.newHandler(ch.alloc()));
            }
            p.addLast("decoder", new MessageDecoder(new KryoValuesDeserializer(conf)));
            p.addLast("netty-serializable-encoder", NettySerializableMessageEncoder.INSTANCE);
            p.addLast("backpressure-encoder", new BackPressureStatusEncoder(new KryoValuesSerializer(conf)));
            if (authRequired) {
                p.addLast("saslServerHandler", new SaslStormServerHandler(HostBoundNettyServer.this));
                p.addLast("authorizeServerHandler", new SaslStormServerAuthorizeHandler());
            }
            p.addLast("handler", new StormServerHandler(HostBoundNettyServer.this));
        }
    }

    /** One task message followed by the end-of-batch marker: the frame Storm's clients decode. */
    private static final class SingleMessage implements INettySerializable {
        private final TaskMessage message;

        SingleMessage(TaskMessage message) {
            this.message = message;
        }

        @Override
        public int encodeLength() {
            return 2 + 4 + message.message().length + ControlMessage.EOB_MESSAGE.encodeLength();
        }

        @Override
        public void write(ByteBuf dest) {
            dest.writeShort((short) message.task());
            dest.writeInt(message.message().length);
            dest.writeBytes(message.message());
            ControlMessage.EOB_MESSAGE.write(dest);
        }
    }

    // --- IServer / ISaslServer ---------------------------------------------------------------------------

    @Override
    public void channelActive(Channel c) {
        if (!authRequired) {
            authenticated(c);
        }
        channels.add(c);
    }

    @Override
    @SuppressWarnings("unchecked")
    public void received(Object message, String remote, Channel channel) throws InterruptedException {
        if (!(message instanceof List)) {
            LOG.error("{} ignored a message of type {} from {}", label, message.getClass().getName(), remote);
            return;
        }
        List<TaskMessage> batch = (List<TaskMessage>) message;
        if (!closing && !batch.isEmpty()) {
            callback.recv(batch);
        }
    }

    @Override
    public String name() {
        return (String) conf.get(Config.TOPOLOGY_NAME);
    }

    @Override
    public String secretKey() {
        // The topology's shared secret, the one Storm's Netty clients authenticate with.
        return (String) conf.get(Config.STORM_ZOOKEEPER_TOPOLOGY_AUTH_PAYLOAD);
    }

    @Override
    public void authenticated(Channel c) {
        if (greeting != null) {
            c.writeAndFlush(greeting.get(), c.voidPromise());
        }
    }

    // --- IConnection ------------------------------------------------------------------------------------

    @Override
    public void sendLoadMetrics(Map<Integer, Double> taskToLoad) {
        byte[] payload;
        synchronized (serializer) {
            payload = serializer.serialize(Collections.singletonList((Object) taskToLoad));
        }
        channels.writeAndFlush(new SingleMessage(new TaskMessage(LOAD_METRICS_TASK, payload)));
    }

    @Override
    public void sendBackPressureStatus(BackPressureStatus status) {
        LOG.info("Sending back-pressure status to connected workers: {}", status);
        channels.writeAndFlush(status);
    }

    @Override
    public void send(Iterator<TaskMessage> msgs) {
        throw new UnsupportedOperationException("a server connection does not send task messages");
    }

    @Override
    public Map<Integer, Load> getLoad(Collection<Integer> tasks) {
        throw new UnsupportedOperationException("a server connection has no load of remote tasks");
    }

    @Override
    public int getPort() {
        return boundPort;
    }

    @Override
    public Status status() {
        if (closing) {
            return Status.Closed;
        }
        for (Channel c : channels) {
            if (!c.isActive()) {
                return Status.Connecting;
            }
        }
        return Status.Ready;
    }

    @Override
    public void close() {
        closing = true;
        channels.close().awaitUninterruptibly();
        handlers.shutdownGracefully().awaitUninterruptibly();
        acceptors.shutdownGracefully().awaitUninterruptibly();
    }

    @Override
    public String toString() {
        return label;
    }
}

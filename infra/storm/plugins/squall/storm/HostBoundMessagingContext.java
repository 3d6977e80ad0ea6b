package squall.storm;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.apache.storm.messaging.IConnection;
import org.apache.storm.messaging.IConnectionCallback;
import org.apache.storm.messaging.IContext;
import org.apache.storm.messaging.netty.Context;
import org.apache.storm.metrics2.StormMetricRegistry;

/**
 * Storm's Netty messaging ({@code storm.messaging.transport}) with each worker's server on {@code squall.bind.host}.
 *
 * <p>Outgoing connections are Storm's own ({@link Context#connect}); only {@link #bind} differs, returning a
 * {@link HostBoundNettyServer} that speaks the same protocol (Storm's decoder, encoders and SASL handlers).
 */
public class HostBoundMessagingContext implements IContext {
    private final Context storm = new Context();
    private final List<HostBoundNettyServer> servers = new ArrayList<>();
    private Map<String, Object> conf;

    @Override
    @SuppressWarnings("deprecation")
    public void prepare(Map<String, Object> topoConf) {
        prepare(topoConf, null);
    }

    @Override
    public void prepare(Map<String, Object> topoConf, StormMetricRegistry metricRegistry) {
        this.conf = topoConf;
        storm.prepare(topoConf, metricRegistry);
    }

    @Override
    public synchronized IConnection bind(String stormId, int port, IConnectionCallback cb,
                                         Supplier<Object> newConnectionResponse) {
        HostBoundNettyServer server =
            new HostBoundNettyServer(conf, BindHost.resolve(conf), port, cb, newConnectionResponse);
        servers.add(server);
        return server;
    }

    @Override
    public IConnection connect(String stormId, String host, int port, AtomicBoolean[] remoteBpStatus) {
        return storm.connect(stormId, host, port, remoteBpStatus);
    }

    @Override
    public synchronized void term() {
        for (HostBoundNettyServer server : servers) {
            server.close();
        }
        servers.clear();
        storm.term();
    }
}

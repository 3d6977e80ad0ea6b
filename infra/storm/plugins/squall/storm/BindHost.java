package squall.storm;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Map;

/**
 * The one address squall's Storm daemons and workers listen on: {@code squall.bind.host} in storm.yaml.
 *
 * <p>Storm 2.8 has no setting for the address of its Thrift servers (Nimbus, Supervisor) or of a worker's Netty
 * server: they listen on every interface. squall's transport plugin and messaging context read this key instead, so
 * a single-host cluster stays on loopback unless the key names another address on purpose.
 */
final class BindHost {
    static final String KEY = "squall.bind.host";
    static final String DEFAULT = "127.0.0.1";

    private BindHost() {
    }

    static InetAddress resolve(Map<String, Object> conf) {
        Object value = conf.get(KEY);
        String host = value == null ? DEFAULT : value.toString().trim();
        if (host.isEmpty()) {
            throw new IllegalArgumentException(KEY + " is empty (fix: set it to an address of this host, e.g. "
                + DEFAULT + ")");
        }
        try {
            return InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(KEY + ": cannot resolve '" + host
                + "' (fix: set it to an address of this host, e.g. " + DEFAULT + ")", e);
        }
    }
}

package squall.storm;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Map;
import org.apache.storm.StormSubmitter;
import org.apache.storm.generated.StormTopology;
import org.apache.storm.utils.Utils;
import org.apache.storm.shade.net.minidev.json.JSONValue;

/**
 * Submits a topology that streamparse already compiled to Thrift (the exact bytes `sparse submit` sends to Nimbus).
 *
 * <p>Storm 2 dropped `storm jar ... --local`; its local mode runs a submitting main class under
 * {@code org.apache.storm.LocalCluster} (what `storm local` does), which redirects StormSubmitter to an in-process
 * cluster. squall's `sparse run` uses this class as that main:
 * {@code java -Dstorm.jar=JAR -Dstorm.local.sleeptime=SECS org.apache.storm.LocalCluster squall.storm.SubmitThriftTopology
 * NAME CONF_JSON TOPOLOGY_THRIFT}.
 */
public final class SubmitThriftTopology {
    private SubmitThriftTopology() {
    }

    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            throw new IllegalArgumentException("usage: SubmitThriftTopology NAME CONF_JSON TOPOLOGY_THRIFT");
        }
        String name = args[0];
        String confJson = new String(Files.readAllBytes(Paths.get(args[1])), StandardCharsets.UTF_8);
        Map<String, Object> conf = (Map<String, Object>) JSONValue.parseWithException(confJson);
        StormTopology topology = Utils.thriftDeserialize(StormTopology.class, Files.readAllBytes(Paths.get(args[2])));
        StormSubmitter.submitTopology(name, conf, topology);
    }
}

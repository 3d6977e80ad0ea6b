package squall.multilang;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.storm.multilang.BoltMsg;
import org.apache.storm.multilang.ISerializer;
import org.apache.storm.multilang.NoOutputException;
import org.apache.storm.multilang.ShellMsg;
import org.apache.storm.multilang.SpoutMsg;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.utils.Utils;
import org.apache.storm.shade.net.minidev.json.JSONValue;
import org.msgpack.core.MessageInsufficientBufferException;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePacker;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * Storm's multilang protocol in MessagePack, the Java half of pystorm's {@code MsgpackSerializer}
 * ({@code streamparse_run -s msgpack}); selected with {@code topology.multilang.serializer=squall.multilang.MsgpackSerializer}.
 *
 * <p>Framing is pystorm's: every message is exactly one msgpack object, back to back on the pipe, no "end" lines.
 * Messages carry the same keys as Storm's {@link org.apache.storm.multilang.JsonSerializer}. Strings travel as msgpack
 * str (UTF-8), byte[] as bin (Python bytes), integers as Long (BigInteger past 64 bits), floats as Double, maps as
 * HashMap and arrays as ArrayList, so tuples stay Kryo-serializable between workers.
 */
public class MsgpackSerializer implements ISerializer {
    private static final long serialVersionUID = 8412904315223611337L;
    private static final int OUT_BUFFER_BYTES = 64 * 1024;

    private transient MessagePacker packer;
    private transient MessageUnpacker unpacker;

    @Override
    public void initialize(OutputStream processIn, InputStream processOut) {
        this.packer = MessagePack.newDefaultPacker(new BufferedOutputStream(processIn, OUT_BUFFER_BYTES));
        this.unpacker = MessagePack.newDefaultUnpacker(processOut);
    }

    @Override
    public Number connect(Map<String, Object> conf, TopologyContext context) throws IOException, NoOutputException {
        // The context as JsonSerializer sends it (TopologyContext knows only how to render itself as JSON).
        Object contextMap = JSONValue.parse(context.toJSONString());
        return handshake(conf, contextMap, context.getPIDDir());
    }

    /** The setup message and the pid reply, apart from TopologyContext so a harness can drive it. */
    public Number handshake(Map<String, Object> conf, Object context, String pidDir) throws IOException, NoOutputException {
        Map<String, Object> setupInfo = new HashMap<>();
        setupInfo.put("pidDir", pidDir);
        setupInfo.put("conf", conf);
        setupInfo.put("context", context);
        writeMessage(setupInfo);
        Object reply = readMessage();
        if (!(reply instanceof Map) || !(((Map<?, ?>) reply).get("pid") instanceof Number)) {
            throw new IOException("multilang handshake: expected a map with a numeric \"pid\", got " + reply);
        }
        return (Number) ((Map<?, ?>) reply).get("pid");
    }

    @Override
    public void writeBoltMsg(BoltMsg msg) throws IOException {
        Map<String, Object> obj = new HashMap<>();
        obj.put("id", msg.getId());
        obj.put("comp", msg.getComp());
        obj.put("stream", msg.getStream());
        obj.put("task", msg.getTask());
        obj.put("tuple", msg.getTuple());
        writeMessage(obj);
    }

    @Override
    public void writeSpoutMsg(SpoutMsg msg) throws IOException {
        Map<String, Object> obj = new HashMap<>();
        obj.put("command", msg.getCommand());
        obj.put("id", msg.getId());
        writeMessage(obj);
    }

    @Override
    public void writeTaskIds(List<Integer> taskIds) throws IOException {
        writeMessage(taskIds);
    }

    @Override
    @SuppressWarnings("unchecked")
    public ShellMsg readShellMsg() throws IOException, NoOutputException {
        Object raw = readMessage();
        if (!(raw instanceof Map)) {
            throw new IOException("multilang: expected a map from the subprocess, got " + raw);
        }
        Map<String, Object> msg = (Map<String, Object>) raw;
        ShellMsg shellMsg = new ShellMsg();

        Object command = msg.get("command");
        if (!(command instanceof String)) {
            throw new IOException("multilang: message without a \"command\": " + msg);
        }
        shellMsg.setCommand((String) command);
        shellMsg.setId(msg.get("id"));
        Object log = msg.get("msg");
        shellMsg.setMsg(log == null ? null : log.toString());

        Object stream = msg.get("stream");
        shellMsg.setStream(stream == null ? Utils.DEFAULT_STREAM_ID : stream.toString());

        Object task = msg.get("task");
        shellMsg.setTask(task instanceof Number ? ((Number) task).longValue() : 0);

        Object needTaskIds = msg.get("need_task_ids");
        shellMsg.setNeedTaskIds(needTaskIds == null || Boolean.TRUE.equals(needTaskIds));

        Object tuple = msg.get("tuple");
        shellMsg.setTuple(tuple instanceof List ? (List<Object>) tuple : null);

        Object anchors = msg.get("anchors");
        if (anchors != null) {
            List<Object> anchorList = anchors instanceof List ? (List<Object>) anchors : Arrays.asList(anchors);
            for (Object anchor : anchorList) {
                shellMsg.addAnchor(anchor.toString());
            }
        }

        Object name = msg.get("name");
        shellMsg.setMetricName(name instanceof String ? (String) name : null);
        shellMsg.setMetricParams(msg.get("params"));

        if ("log".equals(command)) {
            Object level = msg.get("level");
            if (level instanceof Number) {
                shellMsg.setLogLevel(((Number) level).intValue());
            }
        }
        return shellMsg;
    }

    /** Write one message and flush it: the peer reads message by message. */
    public void writeMessage(Object msg) throws IOException {
        pack(msg);
        packer.flush();
    }

    /** Read exactly one message; a closed pipe is Storm's NoOutputException, as with the JSON serializer. */
    public Object readMessage() throws IOException, NoOutputException {
        try {
            if (!unpacker.hasNext()) {
                throw new NoOutputException("Pipe to subprocess seems to be broken! No output read.\n");
            }
            return unpack();
        } catch (MessageInsufficientBufferException e) {
            throw new NoOutputException("Pipe to subprocess seems to be broken! It closed in the middle of a message.\n");
        }
    }

    private void pack(Object value) throws IOException {
        if (value == null) {
            packer.packNil();
        } else if (value instanceof String) {
            packer.packString((String) value);
        } else if (value instanceof byte[]) {
            byte[] bytes = (byte[]) value;
            packer.packBinaryHeader(bytes.length);
            packer.writePayload(bytes);
        } else if (value instanceof ByteBuffer) {
            ByteBuffer buf = ((ByteBuffer) value).duplicate();
            byte[] bytes = new byte[buf.remaining()];
            buf.get(bytes);
            pack(bytes);
        } else if (value instanceof Boolean) {
            packer.packBoolean((Boolean) value);
        } else if (value instanceof Long || value instanceof Integer || value instanceof Short
                   || value instanceof Byte) {
            packer.packLong(((Number) value).longValue());
        } else if (value instanceof BigInteger) {
            packer.packBigInteger((BigInteger) value);
        } else if (value instanceof Double || value instanceof Float) {
            packer.packDouble(((Number) value).doubleValue());
        } else if (value instanceof Map) {
            Map<?, ?> map = (Map<?, ?>) value;
            packer.packMapHeader(map.size());
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                pack(entry.getKey());
                pack(entry.getValue());
            }
        } else if (value instanceof Collection) {
            Collection<?> items = (Collection<?>) value;
            packer.packArrayHeader(items.size());
            for (Object item : items) {
                pack(item);
            }
        } else if (value instanceof Object[]) {
            pack(Arrays.asList((Object[]) value));
        } else {
            // What JSONValue.toJSONString does with an object it does not know: its string form.
            packer.packString(value.toString());
        }
    }

    private Object unpack() throws IOException {
        ValueType type = unpacker.getNextFormat().getValueType();
        switch (type) {
            case NIL:
                unpacker.unpackNil();
                return null;
            case BOOLEAN:
                return unpacker.unpackBoolean();
            case INTEGER:
                BigInteger big = unpacker.unpackBigInteger();
                return big.bitLength() < 64 ? (Object) big.longValue() : big;
            case FLOAT:
                return unpacker.unpackDouble();
            case STRING:
                return unpacker.unpackString();
            case BINARY:
                return unpacker.readPayload(unpacker.unpackBinaryHeader());
            case ARRAY: {
                int n = unpacker.unpackArrayHeader();
                List<Object> list = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    list.add(unpack());
                }
                return list;
            }
            case MAP: {
                int n = unpacker.unpackMapHeader();
                Map<Object, Object> map = new HashMap<>(Math.max(4, n * 2));
                for (int i = 0; i < n; i++) {
                    Object key = unpack();
                    map.put(key, unpack());
                }
                return map;
            }
            default:
                throw new IOException("multilang: msgpack " + type + " values are not supported (send bytes instead)");
        }
    }
}

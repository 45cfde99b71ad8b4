package dev.ferry.upstream;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.debezium.embedded.Connect;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import io.debezium.engine.format.ChangeEventFormat;
import io.debezium.transforms.ExtractNewRecordState;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.source.SourceRecord;

/**
 * Runs the real Debezium MariaDB connector in Debezium's embedded engine against the test bed's
 * MariaDB and writes every record as one JSON line to stdout, three times, as Debezium Server
 * would send it with Kafka Connect's JsonConverter:
 *
 * <ul>
 *   <li>variant "debezium": key and value with schemas.enable=true (ferry's `debezium`);
 *   <li>variant "debezium_flatten": schemas.enable=false (ferry's `debezium_flatten`);
 *   <li>variant "debezium_smt": after ExtractNewRecordState with add.fields=op,db,table,source.ts_ms
 *       and delete.tombstone.handling.mode=rewrite, schemas.enable=false (ferry's `debezium_smt`).
 * </ul>
 *
 * <p>A line: {"engine":"debezium","variant":...,"topic":...,"key":text|null,"value":text|null,
 * "headers":{name:text}}; key, value and headers are the converters' exact bytes as UTF-8 text.
 * Logs go to stderr. It runs a snapshot, then streams, until stdin is closed or --max-seconds.
 *
 * <p>Arguments (--name=value): host, port, user, password, server-id, topic-prefix (ferry),
 * tables (db.table,...), heartbeat-ms (0: off), max-seconds (900), snapshot-mode (initial).
 */
public final class DebeziumRun {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    System.setOut(System.err); // anything a library prints goes to stderr, never into the data
    Map<String, String> a = parseArgs(args);
    String tables = need(a, "tables");
    StringBuilder dbs = new StringBuilder();
    StringBuilder tableRe = new StringBuilder();
    for (String t : tables.split(",")) {
      String[] p = t.trim().split("\\.", 2);
      if (p.length != 2) throw new IllegalArgumentException("table " + t + ": want db.table");
      if (dbs.indexOf(p[0]) < 0) dbs.append(dbs.length() > 0 ? "," : "").append(p[0]);
      tableRe.append(tableRe.length() > 0 ? "," : "").append(p[0]).append("\\.").append(p[1]);
    }
    Properties props = new Properties();
    props.setProperty("name", "ferry-upstream-debezium");
    props.setProperty("connector.class", "io.debezium.connector.mariadb.MariaDbConnector");
    props.setProperty("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
    props.setProperty("offset.flush.interval.ms", "60000");
    props.setProperty("schema.history.internal", "io.debezium.relational.history.MemorySchemaHistory");
    props.setProperty("database.hostname", a.getOrDefault("host", "127.0.0.1"));
    props.setProperty("database.port", a.getOrDefault("port", "3306"));
    props.setProperty("database.user", need(a, "user"));
    props.setProperty("database.password", a.getOrDefault("password", ""));
    props.setProperty("database.server.id", a.getOrDefault("server-id", "5400"));
    props.setProperty("database.ssl.mode", "disable");
    props.setProperty("topic.prefix", a.getOrDefault("topic-prefix", "ferry"));
    props.setProperty("database.include.list", dbs.toString());
    props.setProperty("table.include.list", tableRe.toString());
    props.setProperty("snapshot.mode", a.getOrDefault("snapshot-mode", "initial"));
    props.setProperty("include.schema.changes", "true");
    props.setProperty("tombstones.on.delete", "true");
    String hb = a.getOrDefault("heartbeat-ms", "0");
    if (!hb.equals("0")) props.setProperty("heartbeat.interval.ms", hb);
    for (Map.Entry<String, String> e : a.entrySet()) { // --prop.<debezium property>=value
      if (e.getKey().startsWith("prop.")) props.setProperty(e.getKey().substring(5), e.getValue());
    }

    JsonConverter keySchema = converter(true, true);
    JsonConverter valueSchema = converter(false, true);
    JsonConverter keyPlain = converter(true, false);
    JsonConverter valuePlain = converter(false, false);
    JsonConverter headerSchema = headerConverter(true);
    JsonConverter headerPlain = headerConverter(false);
    ExtractNewRecordState<SourceRecord> unwrap = new ExtractNewRecordState<>();
    Map<String, String> smt = new HashMap<>();
    smt.put("add.fields", "op,db,table,source.ts_ms");
    smt.put("delete.tombstone.handling.mode", "rewrite");
    unwrap.configure(smt);

    AtomicReference<Throwable> failure = new AtomicReference<>();
    CountDownLatch finished = new CountDownLatch(1);
    DebeziumEngine<RecordChangeEvent<SourceRecord>> engine =
        DebeziumEngine.create(ChangeEventFormat.of(Connect.class))
            .using(props)
            .notifying(
                (RecordChangeEvent<SourceRecord> ev) -> {
                  SourceRecord r = ev.record();
                  synchronized (out) {
                    write(out, "debezium", r, keySchema, valueSchema, headerSchema);
                    write(out, "debezium_flatten", r, keyPlain, valuePlain, headerPlain);
                    SourceRecord u = unwrap.apply(r);
                    if (u != null) write(out, "debezium_smt", u, keyPlain, valuePlain, headerPlain);
                    out.flush();
                  }
                })
            .using(
                (boolean success, String message, Throwable error) -> {
                  if (!success) {
                    failure.set(error != null ? error : new RuntimeException(message));
                    System.err.println("debezium engine stopped: " + message);
                    if (error != null) error.printStackTrace(System.err);
                  }
                  finished.countDown();
                })
            .build();
    ExecutorService exec = Executors.newSingleThreadExecutor();
    exec.execute(engine);

    Thread stdin =
        new Thread(
            () -> {
              try (InputStream in = System.in) {
                while (in.read() >= 0) {}
              } catch (Exception ignored) {
              }
              finished.countDown();
            },
            "stdin-watch");
    stdin.setDaemon(true);
    stdin.start();
    long max = Long.parseLong(a.getOrDefault("max-seconds", "900"));
    finished.await(max, TimeUnit.SECONDS);
    // A stop that hangs (an engine stuck retrying) must not outlive the caller.
    Thread watchdog =
        new Thread(
            () -> {
              try {
                Thread.sleep(30_000);
              } catch (InterruptedException ignored) {
              }
              System.err.println("stop took over 30 s: halting");
              Runtime.getRuntime().halt(2);
            },
            "stop-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
    engine.close();
    exec.shutdown();
    exec.awaitTermination(60, TimeUnit.SECONDS);
    out.flush();
    if (failure.get() != null) System.exit(1);
    System.exit(0);
  }

  private static void write(
      PrintStream out,
      String variant,
      SourceRecord r,
      JsonConverter keyConv,
      JsonConverter valueConv,
      JsonConverter headerConv) {
    ObjectNode line = JSON.createObjectNode();
    line.put("engine", "debezium");
    line.put("variant", variant);
    line.put("topic", r.topic());
    byte[] k = keyConv.fromConnectData(r.topic(), r.keySchema(), r.key());
    byte[] v = valueConv.fromConnectData(r.topic(), r.valueSchema(), r.value());
    line.put("key", k == null ? null : new String(k, StandardCharsets.UTF_8));
    line.put("value", v == null ? null : new String(v, StandardCharsets.UTF_8));
    ObjectNode headers = line.putObject("headers");
    for (Header h : r.headers()) {
      byte[] hv = headerConv.fromConnectHeader(r.topic(), h.key(), h.schema(), h.value());
      headers.put(h.key(), hv == null ? null : new String(hv, StandardCharsets.UTF_8));
    }
    try {
      out.println(JSON.writeValueAsString(line));
    } catch (Exception e) {
      throw new RuntimeException(e);
    }
  }

  private static JsonConverter converter(boolean isKey, boolean schemas) {
    JsonConverter c = new JsonConverter();
    Map<String, Object> cfg = new HashMap<>();
    cfg.put("schemas.enable", Boolean.toString(schemas));
    c.configure(cfg, isKey);
    return c;
  }

  private static JsonConverter headerConverter(boolean schemas) {
    JsonConverter c = new JsonConverter();
    Map<String, Object> cfg = new HashMap<>();
    cfg.put("schemas.enable", Boolean.toString(schemas));
    cfg.put("converter.type", "header");
    c.configure(cfg);
    return c;
  }

  private static String need(Map<String, String> a, String k) {
    String v = a.get(k);
    if (v == null || v.isEmpty()) throw new IllegalArgumentException("missing --" + k);
    return v;
  }

  static Map<String, String> parseArgs(String[] args) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String s : args) {
      if (!s.startsWith("--") || !s.contains("=")) throw new IllegalArgumentException("bad argument " + s);
      int i = s.indexOf('=');
      m.put(s.substring(2, i), s.substring(i + 1));
    }
    return m;
  }
}

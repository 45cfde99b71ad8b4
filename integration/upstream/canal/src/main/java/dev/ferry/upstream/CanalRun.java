package dev.ferry.upstream;

import com.alibaba.fastjson2.JSON;
import com.alibaba.fastjson2.JSONObject;
import com.alibaba.fastjson2.JSONWriter;
import com.alibaba.otter.canal.common.alarm.LogAlarmHandler;
import com.alibaba.otter.canal.connector.core.producer.MQMessageUtils;
import com.alibaba.otter.canal.filter.aviater.AviaterRegexFilter;
import com.alibaba.otter.canal.parse.inbound.mysql.MysqlEventParser;
import com.alibaba.otter.canal.parse.index.MemoryLogPositionManager;
import com.alibaba.otter.canal.parse.support.AuthenticationInfo;
import com.alibaba.otter.canal.protocol.CanalEntry;
import com.alibaba.otter.canal.protocol.FlatMessage;
import com.alibaba.otter.canal.protocol.Message;
import com.alibaba.otter.canal.protocol.position.EntryPosition;
import com.alibaba.otter.canal.sink.AbstractCanalEventSink;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs the real Canal binlog parser (canal.parse's MysqlEventParser, as Canal's memory instance
 * configures it: no table-meta TSDB, in-memory positions) against the test bed's MariaDB from a
 * given binlog position, and turns what it parses into FlatMessages the way Canal's RocketMQ
 * producer does with flatMessage=true and no partition hash: MQMessageUtils.buildMessageData,
 * MQMessageUtils.messageConverter, then fastjson2's JSON.toJSONBytes(flatMessage, WriteNulls).
 *
 * <p>Each parser delivery is one Canal batch (its FlatMessage id); heartbeat entries are dropped
 * as Canal's HeartBeatEntryEventHandler drops them before the store. Each message is one JSON line
 * on stdout: {"engine":"canal","variant":"canal","topic":"","key":null,"value":text,"headers":{}}.
 * Logs go to stderr. Runs until stdin is closed or --max-seconds.
 *
 * <p>Arguments (--name=value): host, port, user, password, server-id (the slave id), tables
 * (db.table,...), journal, position (where to start), max-seconds (900).
 */
public final class CanalRun {
  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    System.setOut(System.err); // anything a library prints goes to stderr, never into the data
    Map<String, String> a = parseArgs(args);
    StringBuilder regex = new StringBuilder();
    for (String t : need(a, "tables").split(",")) {
      String[] p = t.trim().split("\\.", 2);
      if (p.length != 2) throw new IllegalArgumentException("table " + t + ": want db.table");
      regex.append(regex.length() > 0 ? "," : "").append(p[0]).append("\\.").append(p[1]);
    }
    ThreadPoolExecutor build =
        new ThreadPoolExecutor(
            2,
            2,
            60,
            TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(64),
            new ThreadPoolExecutor.CallerRunsPolicy());
    AtomicLong batch = new AtomicLong();

    MysqlEventParser parser = new MysqlEventParser();
    parser.setDestination("ferry-upstream");
    parser.setSlaveId(Long.parseLong(a.getOrDefault("server-id", "5401")));
    parser.setMasterInfo(
        new AuthenticationInfo(
            new InetSocketAddress(a.getOrDefault("host", "127.0.0.1"), Integer.parseInt(a.getOrDefault("port", "3306"))),
            need(a, "user"),
            a.getOrDefault("password", "")));
    parser.setMasterPosition(new EntryPosition(need(a, "journal"), Long.parseLong(need(a, "position"))));
    parser.setEventFilter(new AviaterRegexFilter(regex.toString()));
    parser.setEventBlackFilter(new AviaterRegexFilter("", false));
    MemoryLogPositionManager positions = new MemoryLogPositionManager();
    positions.start(); // the instance starts it before the parser
    parser.setLogPositionManager(positions);
    LogAlarmHandler alarms = new LogAlarmHandler();
    alarms.start();
    parser.setAlarmHandler(alarms);
    parser.setEnableTsdb(false);
    parser.setConnectionCharset("UTF-8");
    parser.setIsGTIDMode(false);
    parser.setParallel(true);
    parser.setTransactionSize(1024);
    parser.setEventSink(
        new AbstractCanalEventSink<List<CanalEntry.Entry>>() {
          @Override
          public boolean sink(List<CanalEntry.Entry> entries, InetSocketAddress remote, String destination) {
            List<CanalEntry.Entry> kept = new ArrayList<>();
            for (CanalEntry.Entry e : entries) {
              if (e.getEntryType() != CanalEntry.EntryType.HEARTBEAT) kept.add(e);
            }
            if (kept.isEmpty()) return true;
            Message m = new Message(batch.incrementAndGet(), kept);
            MQMessageUtils.EntryRowData[] datas = MQMessageUtils.buildMessageData(m, build);
            List<FlatMessage> flat = MQMessageUtils.messageConverter(datas, m.getId());
            synchronized (out) {
              for (FlatMessage f : flat) {
                byte[] body = JSON.toJSONBytes(f, JSONWriter.Feature.WriteNulls);
                Map<String, Object> line = new LinkedHashMap<>();
                line.put("engine", "canal");
                line.put("variant", "canal");
                line.put("topic", "");
                line.put("key", null);
                line.put("value", new String(body, StandardCharsets.UTF_8));
                line.put("headers", new JSONObject());
                out.println(JSON.toJSONString(line, JSONWriter.Feature.WriteNulls));
              }
              out.flush();
            }
            return true;
          }

          @Override
          public void interrupt() {}
        });

    CountDownLatch finished = new CountDownLatch(1);
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
    parser.start();
    finished.await(Long.parseLong(a.getOrDefault("max-seconds", "900")), TimeUnit.SECONDS);
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
    parser.stop();
    build.shutdown();
    out.flush();
    System.exit(0);
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

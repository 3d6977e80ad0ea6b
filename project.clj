(defproject squall "0.1.0-SNAPSHOT"
  :description "squall reference IoT pipeline, packaged for Apache Storm 2.8 by streamparse"
  :source-paths ["topologies"]
  :resource-paths ["_resources"]
  :target-path "_build"
  :dependencies [[org.apache.storm/storm-client "2.8.3" :scope "provided"]]
  :jvm-opts ["-Xmx512m"])

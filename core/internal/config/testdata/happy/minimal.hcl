pipeline "minimal" {
  source "oceanbase" {}
  serializer "canal" {}
  sink "rocketmq" {}
}

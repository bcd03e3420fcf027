output "cluster_name" {
  value = module.app.cluster_name
}

output "service_names" {
  value = module.app.service_names
}

output "task_definition_families" {
  value = module.app.task_definition_families
}

output "url" {
  value = module.app.url
}

output "listener_priorities" {
  value = module.app.listener_priorities
}

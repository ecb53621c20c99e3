package main

import "github.com/siderolabs/talos/pkg/machinery/role"

// Which roles may call what: machined's table (v1.10.3 internal/app/machined/pkg/system/services/machined.go, var
// rules), for the methods the lab serves; anything else needs os:admin (its FallbackRoles).
var rules = map[string]role.Set{
	"/cluster.ClusterService/HealthCheck":           role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/ApplyConfiguration":    role.MakeSet(role.Admin),
	"/machine.MachineService/Bootstrap":             role.MakeSet(role.Admin),
	"/machine.MachineService/Containers":            role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Dmesg":                 role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/EtcdAlarmList":         role.MakeSet(role.Admin, role.Operator, role.Reader, role.EtcdBackup),
	"/machine.MachineService/EtcdForfeitLeadership": role.MakeSet(role.Admin),
	"/machine.MachineService/EtcdMemberList":        role.MakeSet(role.Admin, role.Operator, role.Reader, role.EtcdBackup),
	"/machine.MachineService/EtcdRemoveMemberByID":  role.MakeSet(role.Admin),
	"/machine.MachineService/EtcdSnapshot":          role.MakeSet(role.Admin, role.Operator, role.EtcdBackup),
	"/machine.MachineService/EtcdStatus":            role.MakeSet(role.Admin, role.Operator, role.Reader, role.EtcdBackup),
	"/machine.MachineService/Events":                role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Kubeconfig":            role.MakeSet(role.Admin),
	"/machine.MachineService/List":                  role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Logs":                  role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Mounts":                role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Read":                  role.MakeSet(role.Admin),
	"/machine.MachineService/Reboot":                role.MakeSet(role.Admin, role.Operator),
	"/machine.MachineService/Reset":                 role.MakeSet(role.Admin),
	"/machine.MachineService/Rollback":              role.MakeSet(role.Admin),
	"/machine.MachineService/ServiceList":           role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/ServiceRestart":        role.MakeSet(role.Admin, role.Operator),
	"/machine.MachineService/Shutdown":              role.MakeSet(role.Admin, role.Operator),
	"/machine.MachineService/Upgrade":               role.MakeSet(role.Admin),
	"/machine.MachineService/Version":               role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/cosi.resource.State/Get":                      role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/cosi.resource.State/List":                     role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/cosi.resource.State/Watch":                    role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/cosi.resource.State/Create":                   role.MakeSet(role.Admin),
	"/cosi.resource.State/Update":                   role.MakeSet(role.Admin),
	"/cosi.resource.State/Destroy":                  role.MakeSet(role.Admin),
}

/*
 * /sbin/init of the test root file system that tests/vm/boot_flow.sh
 * encrypts on the host: print what the root holds, so the host sees that
 * the initramfs unlocked it and the data reads back, then power off.
 * Static, so the root needs no libraries.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
	char data[256];
	int fd = open("/data.txt", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, data, sizeof(data) - 1);

	if (n < 0)
		printf("SECUREKEY-VM-ROOT: no /data.txt\n");
	else
		printf("SECUREKEY-VM-ROOT: data=%.*s\n", (int)n, data);
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 1;
}

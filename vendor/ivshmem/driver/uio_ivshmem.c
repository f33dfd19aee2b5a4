// SPDX-License-Identifier: GPL-2.0
/*
 * uio_ivshmem - UIO driver for the QEMU ivshmem PCI device
 * (vendor 0x1af4, device 0x1110; ivshmem-plain and ivshmem-doorbell).
 *
 * User space gets two maps:
 *   map 0: BAR0, the register block (IntrMask 0x0, IntrStatus 0x4,
 *          IVPosition 0x8, Doorbell 0xc). The BAR is only 256 bytes but
 *          mmap works in pages, so the map covers the page that holds it
 *          and the map's "offset" attribute says where the BAR starts.
 *   map 1: BAR2, the shared memory, at mmap offset 1 * page size.
 *
 * Interrupts (doorbell devices): with MSI-X (vectors > 0) every vector
 * counts as one uio event; without MSI-X the legacy INTx line is used
 * and the register interface (IntrStatus, read-to-clear) tells our
 * interrupt from a neighbour's on the shared line. Writing a 32-bit 0 or
 * 1 to /dev/uioN masks or unmasks interrupts, reading it blocks for the
 * next event and returns the event count (standard uio semantics).
 */
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uio_driver.h>

#define IVSHMEM_VENDOR_ID 0x1af4
#define IVSHMEM_DEVICE_ID 0x1110

/* Register offsets in BAR0, from QEMU's ivshmem specification. */
#define IVSHMEM_REG_INTR_MASK 0x00
#define IVSHMEM_REG_INTR_STATUS 0x04

#define IVSHMEM_REGS_BAR 0
#define IVSHMEM_SHM_BAR 2

struct ivshmem_uio {
	struct uio_info info;
	struct pci_dev *pdev;
	void __iomem *regs;
	int nvectors;	 /* MSI-X vectors in use, 0 for INTx/none */
	bool masked;	 /* MSI-X: vectors currently disabled */
	bool removing;	 /* MSI-X: vectors being freed */
	spinlock_t lock; /* serialises irqcontrol */
};

static irqreturn_t ivshmem_uio_intx(int irq, struct uio_info *info)
{
	struct ivshmem_uio *dev = info->priv;

	/* The line may be shared: only a set status bit is ours. Reading
	 * IntrStatus also clears it, which deasserts the line. */
	if (!ioread32(dev->regs + IVSHMEM_REG_INTR_STATUS))
		return IRQ_NONE;
	return IRQ_HANDLED;
}

static irqreturn_t ivshmem_uio_msix(int irq, void *arg)
{
	struct ivshmem_uio *dev = arg;

	uio_event_notify(&dev->info);
	return IRQ_HANDLED;
}

static int ivshmem_uio_irqcontrol(struct uio_info *info, s32 irq_on)
{
	struct ivshmem_uio *dev = info->priv;
	unsigned long flags;
	int i;

	if (dev->nvectors == 0) {
		iowrite32(irq_on ? 0xffffffff : 0,
			  dev->regs + IVSHMEM_REG_INTR_MASK);
		return 0;
	}
	/* disable_irq/enable_irq nest, so only act on a state change. */
	spin_lock_irqsave(&dev->lock, flags);
	if (!dev->removing && !irq_on != dev->masked) {
		for (i = 0; i < dev->nvectors; i++) {
			int irq = pci_irq_vector(dev->pdev, i);

			if (irq_on)
				enable_irq(irq);
			else
				disable_irq_nosync(irq);
		}
		dev->masked = !irq_on;
	}
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

static void ivshmem_uio_free_vectors(struct ivshmem_uio *dev, int count)
{
	while (count-- > 0)
		free_irq(pci_irq_vector(dev->pdev, count), dev);
}

/* Returns the number of MSI-X vectors set up (0: use INTx), or < 0. */
static int ivshmem_uio_setup_msix(struct ivshmem_uio *dev)
{
	int want = pci_msix_vec_count(dev->pdev);
	int got, i, err;

	if (want <= 0)
		return 0;
	got = pci_alloc_irq_vectors(dev->pdev, 1, want, PCI_IRQ_MSIX);
	if (got < 0) {
		dev_warn(&dev->pdev->dev,
			 "MSI-X unavailable (%d), using INTx\n", got);
		return 0;
	}
	for (i = 0; i < got; i++) {
		err = request_irq(pci_irq_vector(dev->pdev, i),
				  ivshmem_uio_msix, 0, dev->info.name, dev);
		if (err) {
			dev_err(&dev->pdev->dev,
				"request_irq for vector %d failed: %d\n", i,
				err);
			goto err_free_vectors;
		}
	}
	return got;

err_free_vectors:
	ivshmem_uio_free_vectors(dev, i);
	pci_free_irq_vectors(dev->pdev);
	return err;
}

static void ivshmem_uio_set_maps(struct ivshmem_uio *dev)
{
	struct pci_dev *pdev = dev->pdev;
	resource_size_t regs = pci_resource_start(pdev, IVSHMEM_REGS_BAR);
	resource_size_t regs_len = pci_resource_len(pdev, IVSHMEM_REGS_BAR);
	struct uio_mem *map;

	map = &dev->info.mem[0];
	map->name = "registers";
	map->memtype = UIO_MEM_PHYS;
	map->addr = regs & PAGE_MASK;
	map->offs = regs & ~PAGE_MASK;
	map->size = PAGE_ALIGN(map->offs + regs_len);
	map->internal_addr = dev->regs;

	map = &dev->info.mem[1];
	map->name = "shmem";
	map->memtype = UIO_MEM_PHYS;
	map->addr = pci_resource_start(pdev, IVSHMEM_SHM_BAR);
	map->size = pci_resource_len(pdev, IVSHMEM_SHM_BAR);
}

static int ivshmem_uio_probe(struct pci_dev *pdev,
			     const struct pci_device_id *id)
{
	struct ivshmem_uio *dev;
	int err;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	dev->pdev = pdev;
	spin_lock_init(&dev->lock);

	err = pci_enable_device(pdev);
	if (err) {
		dev_err(&pdev->dev, "pci_enable_device failed: %d\n", err);
		goto err_free_dev;
	}
	err = pci_request_regions(pdev, "uio_ivshmem");
	if (err) {
		dev_err(&pdev->dev, "pci_request_regions failed: %d\n", err);
		goto err_disable;
	}
	if (!pci_resource_len(pdev, IVSHMEM_SHM_BAR)) {
		dev_err(&pdev->dev, "BAR2 (shared memory) is missing\n");
		err = -ENODEV;
		goto err_release;
	}
	dev->regs = pci_iomap(pdev, IVSHMEM_REGS_BAR, 0);
	if (!dev->regs) {
		dev_err(&pdev->dev, "cannot map BAR0\n");
		err = -ENOMEM;
		goto err_release;
	}
	/* MSI-X needs bus mastering to deliver its messages. */
	pci_set_master(pdev);

	dev->info.name = "ivshmem";
	dev->info.version = "1.0";
	dev->info.priv = dev;
	ivshmem_uio_set_maps(dev);

	dev->nvectors = ivshmem_uio_setup_msix(dev);
	if (dev->nvectors < 0) {
		err = dev->nvectors;
		goto err_unmap;
	}
	if (dev->nvectors > 0) {
		dev->info.irq = UIO_IRQ_CUSTOM;
	} else if (pdev->irq) {
		dev->info.irq = pdev->irq;
		dev->info.irq_flags = IRQF_SHARED;
		dev->info.handler = ivshmem_uio_intx;
		iowrite32(0xffffffff, dev->regs + IVSHMEM_REG_INTR_MASK);
	} else {
		dev->info.irq = UIO_IRQ_NONE;
	}
	if (dev->info.irq != UIO_IRQ_NONE)
		dev->info.irqcontrol = ivshmem_uio_irqcontrol;

	err = uio_register_device(&pdev->dev, &dev->info);
	if (err) {
		dev_err(&pdev->dev, "uio_register_device failed: %d\n", err);
		goto err_vectors;
	}
	pci_set_drvdata(pdev, dev);
	dev_info(&pdev->dev, "shmem %pa bytes, %s\n", &dev->info.mem[1].size,
		 dev->nvectors			 ? "MSI-X"
		 : dev->info.irq == UIO_IRQ_NONE ? "no interrupt"
						 : "INTx");
	return 0;

err_vectors:
	if (dev->nvectors > 0) {
		ivshmem_uio_free_vectors(dev, dev->nvectors);
		pci_free_irq_vectors(pdev);
	} else if (dev->info.handler) {
		iowrite32(0, dev->regs + IVSHMEM_REG_INTR_MASK);
	}
err_unmap:
	pci_clear_master(pdev);
	pci_iounmap(pdev, dev->regs);
err_release:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_free_dev:
	kfree(dev);
	return err;
}

static void ivshmem_uio_remove(struct pci_dev *pdev)
{
	struct ivshmem_uio *dev = pci_get_drvdata(pdev);

	/* Free our own vectors while the uio device still exists: their
	 * handler notifies it. Unmask first so no disable depth is left, and
	 * keep irqcontrol from touching vectors that are going away. */
	if (dev->nvectors > 0) {
		ivshmem_uio_irqcontrol(&dev->info, 1);
		spin_lock_irq(&dev->lock);
		dev->removing = true;
		spin_unlock_irq(&dev->lock);
		ivshmem_uio_free_vectors(dev, dev->nvectors);
		pci_free_irq_vectors(pdev);
	}
	uio_unregister_device(&dev->info);
	if (dev->nvectors == 0 && dev->info.handler)
		iowrite32(0, dev->regs + IVSHMEM_REG_INTR_MASK);
	pci_clear_master(pdev);
	pci_iounmap(pdev, dev->regs);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	kfree(dev);
}

static const struct pci_device_id ivshmem_uio_ids[] = {
	{ PCI_DEVICE(IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID) }, { 0 }
};
MODULE_DEVICE_TABLE(pci, ivshmem_uio_ids);

static struct pci_driver ivshmem_uio_driver = {
	.name = "uio_ivshmem",
	.id_table = ivshmem_uio_ids,
	.probe = ivshmem_uio_probe,
	.remove = ivshmem_uio_remove,
};
module_pci_driver(ivshmem_uio_driver);

MODULE_DESCRIPTION("UIO driver for the QEMU ivshmem PCI device");
MODULE_LICENSE("GPL");

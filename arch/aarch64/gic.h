/*
 * gic.h -- the Arm GICv2 (+ GICv2m MSI frame) for the rest of arch/aarch64.
 */
#ifndef ARCH_AARCH64_GIC_H
#define ARCH_AARCH64_GIC_H

#include "include/arch.h"

int gic_attach_timer(irq_handler_fn handler);
unsigned gic_timer_intid(void);
void gic_handle_irq(void);

#endif

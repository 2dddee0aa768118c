// Short notices at the bottom of the screen: errors stay 8 s, information 5 s, five at most.

export interface Toast {
  id: number;
  text: string;
  kind: 'error' | 'info';
}

class Toasts {
  items = $state<Toast[]>([]);
  private last = 0;

  show(text: string, kind: 'error' | 'info' = 'error'): void {
    const id = ++this.last;
    this.items = [...this.items.slice(-4), { id, text, kind }];
    setTimeout(() => this.dismiss(id), kind === 'error' ? 8000 : 5000);
  }

  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id);
  }
}

export const toasts = new Toasts();

/** Shows a toast (errors by default). */
export function toast(text: string, kind: 'error' | 'info' = 'error'): void {
  toasts.show(text, kind);
}

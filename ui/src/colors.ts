// Service colours: a fixed palette indexed by a hash of the service name, so a service has the same
// colour on every page and in both traces of a comparison.

const PALETTE = [
  '#17B8BE', '#F8DCA1', '#B7885E', '#FFCB99', '#F89570', '#829AE3', '#E79FD5', '#1E96BE', '#89DAC1', '#B3AD9E',
  '#12939A', '#DDB27C', '#88572C', '#FF9833', '#EF5D28', '#162A65', '#DA70BF', '#125C77', '#4DC19C', '#776E57',
];

const cache = new Map<string, string>();

export function serviceColor(service: string): string {
  let c = cache.get(service);
  if (c === undefined) {
    let h = 2166136261;
    for (let i = 0; i < service.length; i++) {
      h ^= service.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    c = PALETTE[(h >>> 0) % PALETTE.length];
    cache.set(service, c);
  }
  return c;
}
